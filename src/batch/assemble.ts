/**
 * Packed rows → the arrays of PROTOCOL.md's `batch` op, for a whole step at once.
 *
 * The global batch is R = world × batch_size rows of L tokens. Every item is one document
 * segment and every padding run is one segment; segments never cross a row, so each rank's
 * rows are a contiguous block of every array (zero-copy views) and of the global cu_seqlens
 * (its own cu_seqlens is that block shifted to start at 0).
 *
 * Hot path: one pass over the rows, bulk `set`/`fill` writes per segment,
 * nothing allocated per token.
 */
import { createHash } from "node:crypto";
import type { PackedRow } from "../pack/types.js";

/** The label a position gets when nothing should be predicted there (cross-entropy ignore_index). */
export const IGNORE_INDEX = -100;
/** domain_ids on padding. */
export const PAD_DOMAIN = -1;

/** A step's global batch: rows r·B..(r+1)·B−1 belong to rank r. */
export interface Batch {
  /** int32 [rows, seqLen]; padding is pad_id. */
  readonly input_ids: Int32Array;
  /** int32 [rows, seqLen]: the next token within the same segment, else -100. */
  readonly targets: Int32Array;
  /** int32 [rows, seqLen]: 0 at the first token of every segment (padding runs count up from 0 too). */
  readonly position_ids: Int32Array;
  /** int16 [rows, seqLen]: domain index, -1 on padding. */
  readonly domain_ids: Int16Array;
  /** int32 [S+1]: segment boundaries over the flattened rows × seqLen tokens; 0 first, rows·seqLen last. */
  readonly cu_seqlens: Int32Array;
  readonly rows: number;
  readonly seqLen: number;
  /** Longest segment in the whole batch (0 when there are no rows). */
  readonly maxSeqlen: number;
  /** [rows + 1]: row r's segments are numbers rowSegments[r]..rowSegments[r+1]−1, so cu_seqlens[rowSegments[r]] = r·seqLen. */
  readonly rowSegments: Int32Array;
  /** [rows]: longest segment within each row. */
  readonly rowMaxSeqlen: Int32Array;
  /** Non-padding tokens. */
  readonly tokens: number;
}

/** One rank's share of a step, named exactly as the `batch` reply's arrays. */
export interface RankBatch {
  readonly input_ids: Int32Array;
  readonly targets: Int32Array;
  readonly position_ids: Int32Array;
  readonly domain_ids: Int16Array;
  readonly cu_seqlens: Int32Array;
  readonly max_seqlen: number;
}

/**
 * Lay out `rows` (items left to right, then padding) into a global batch of `rows.length`
 * rows of `seqLen` tokens. Throws if a row holds more than `seqLen` tokens, an item is empty,
 * or a domain does not fit int16.
 */
export function assembleBatch(rows: readonly PackedRow[], seqLen: number, padId: number): Batch {
  if (!Number.isInteger(seqLen) || seqLen < 1) throw new RangeError(`assembleBatch: seq_len must be a positive integer, got ${seqLen}`);
  if (!Number.isInteger(padId) || padId < -0x80000000 || padId > 0x7fffffff) {
    throw new RangeError(`assembleBatch: pad_id must be an int32, got ${padId}`);
  }
  const R = rows.length;

  // First pass over rows (not tokens): validate and count segments so cu_seqlens is exact.
  let segments = 0;
  for (let r = 0; r < R; r++) {
    const items = rows[r].items;
    let used = 0;
    for (let k = 0; k < items.length; k++) {
      const it = items[k];
      const n = it.tokens.length;
      if (n < 1) throw new RangeError(`assembleBatch: row ${r} item ${k} (id ${it.id}) is empty`);
      if (!(it.domain >= 0 && it.domain <= 0x7fff && Number.isInteger(it.domain))) {
        throw new RangeError(`assembleBatch: row ${r} item ${k} (id ${it.id}) has domain ${it.domain}, not in [0, 32767]`);
      }
      used += n;
    }
    if (used > seqLen) throw new RangeError(`assembleBatch: row ${r} holds ${used} tokens, more than seq_len ${seqLen}`);
    segments += items.length + (used < seqLen ? 1 : 0);
  }

  const total = R * seqLen;
  const input_ids = new Int32Array(total);
  const targets = new Int32Array(total);
  const position_ids = new Int32Array(total);
  const domain_ids = new Int16Array(total);
  const cu_seqlens = new Int32Array(segments + 1);
  const rowSegments = new Int32Array(R + 1);
  const rowMaxSeqlen = new Int32Array(R);
  // Positions of any segment are a prefix of 0, 1, 2, ...: copy instead of counting.
  const iota = new Int32Array(seqLen);
  for (let i = 0; i < seqLen; i++) iota[i] = i;

  let s = 0;
  let tokens = 0;
  let maxSeqlen = 0;
  for (let r = 0; r < R; r++) {
    rowSegments[r] = s;
    const items = rows[r].items;
    const rowStart = r * seqLen;
    let off = rowStart;
    let rowMax = 0;
    for (let k = 0; k < items.length; k++) {
      const it = items[k];
      const src = it.tokens;
      const n = src.length;
      input_ids.set(src, off);
      targets.set(src.subarray(1), off);
      targets[off + n - 1] = IGNORE_INDEX;
      position_ids.set(n === seqLen ? iota : iota.subarray(0, n), off);
      domain_ids.fill(it.domain, off, off + n);
      off += n;
      cu_seqlens[++s] = off;
      if (n > rowMax) rowMax = n;
    }
    tokens += off - rowStart;
    const rowEnd = rowStart + seqLen;
    if (off < rowEnd) {
      const n = rowEnd - off;
      input_ids.fill(padId, off, rowEnd);
      targets.fill(IGNORE_INDEX, off, rowEnd);
      position_ids.set(iota.subarray(0, n), off);
      domain_ids.fill(PAD_DOMAIN, off, rowEnd);
      cu_seqlens[++s] = rowEnd;
      if (n > rowMax) rowMax = n;
    }
    rowMaxSeqlen[r] = rowMax;
    if (rowMax > maxSeqlen) maxSeqlen = rowMax;
  }
  rowSegments[R] = s;

  return { input_ids, targets, position_ids, domain_ids, cu_seqlens, rows: R, seqLen, maxSeqlen, rowSegments, rowMaxSeqlen, tokens };
}

/**
 * Rank `rank`'s rows (rank·B .. (rank+1)·B − 1, B = rowsPerRank): the four token arrays are
 * views into the global batch; cu_seqlens is its own array, relative to the rank's first token.
 */
export function sliceRank(batch: Batch, rank: number, rowsPerRank: number): RankBatch {
  if (!Number.isInteger(rowsPerRank) || rowsPerRank < 1) {
    throw new RangeError(`sliceRank: rowsPerRank must be a positive integer, got ${rowsPerRank}`);
  }
  if (!Number.isInteger(rank) || rank < 0 || (rank + 1) * rowsPerRank > batch.rows) {
    throw new RangeError(`sliceRank: rank ${rank} × ${rowsPerRank} rows is outside the batch of ${batch.rows} rows`);
  }
  const L = batch.seqLen;
  const r0 = rank * rowsPerRank;
  const r1 = r0 + rowsPerRank;
  const t0 = r0 * L;
  const t1 = r1 * L;
  const a = batch.rowSegments[r0];
  const b = batch.rowSegments[r1];
  const cu = batch.cu_seqlens.slice(a, b + 1);
  for (let i = 0; i < cu.length; i++) cu[i] -= t0;
  let max = 0;
  for (let r = r0; r < r1; r++) if (batch.rowMaxSeqlen[r] > max) max = batch.rowMaxSeqlen[r];
  return {
    input_ids: batch.input_ids.subarray(t0, t1),
    targets: batch.targets.subarray(t0, t1),
    position_ids: batch.position_ids.subarray(t0, t1),
    domain_ids: batch.domain_ids.subarray(t0, t1),
    cu_seqlens: cu,
    max_seqlen: max,
  };
}

/** The wire format is little-endian and we hash and send host memory as is. */
function assertLittleEndian(): void {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
    throw new Error("mixload requires a little-endian host: batch arrays are sent and hashed as raw host bytes");
  }
}
assertLittleEndian();

function bytes(a: Int32Array | Int16Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * sha256 (hex) over the raw little-endian bytes of input_ids, targets, position_ids,
 * domain_ids, then the global cu_seqlens, in that order. What `mixload batches --digest` prints.
 */
export function batchDigest(batch: Batch): string {
  const h = createHash("sha256");
  h.update(bytes(batch.input_ids));
  h.update(bytes(batch.targets));
  h.update(bytes(batch.position_ids));
  h.update(bytes(batch.domain_ids));
  h.update(bytes(batch.cu_seqlens));
  return h.digest("hex");
}
