/**
 * Cutting documents longer than a row. A document of n tokens needs ⌈n/L⌉ rows at least, so
 * ⌈n/L⌉ − 1 cuts are unavoidable; best-fit packing makes exactly those and no more, which is
 * the "truncations == min_truncations" figure pack-stats reports.
 */
import type { PackItem } from "./types.js";

function checkSeqLen(seqLen: number): void {
  if (!Number.isInteger(seqLen) || seqLen < 1) {
    throw new RangeError(`seq_len must be a positive integer, got ${seqLen}`);
  }
}

/** Number of pieces a document of `n` tokens is cut into: ⌈n/L⌉ (0 for an empty document). */
export function chunkCount(n: number, seqLen: number): number {
  checkSeqLen(seqLen);
  return Math.ceil(n / seqLen);
}

/** Piece lengths for a document of `n` tokens: all `seqLen` except the last, which is the rest. */
export function chunkLengths(n: number, seqLen: number): Int32Array {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`document length must be a non-negative integer, got ${n}`);
  const count = chunkCount(n, seqLen);
  const out = new Int32Array(count).fill(seqLen);
  if (count > 0) out[count - 1] = n - (count - 1) * seqLen;
  return out;
}

/** Σ max(0, ⌈len/L⌉ − 1): the fewest cuts any packing into rows of L can make. */
export function minTruncations(lengths: ArrayLike<number>, seqLen: number): number {
  checkSeqLen(seqLen);
  let cuts = 0;
  for (let i = 0; i < lengths.length; i++) {
    const len = lengths[i];
    if (len > seqLen) cuts += Math.ceil(len / seqLen) - 1;
  }
  return cuts;
}

/**
 * Cut an item into pieces of at most `seqLen` tokens, as zero-copy views of its tokens. Each
 * piece keeps the item's id and domain; a piece is identified by (id, offset = index · seqLen).
 */
export function chunkItem(item: PackItem, seqLen: number): PackItem[] {
  const n = item.tokens.length;
  const count = chunkCount(n, seqLen);
  if (count === 1) return [item];
  const out: PackItem[] = new Array(count);
  for (let k = 0; k < count; k++) {
    out[k] = { id: item.id, domain: item.domain, tokens: item.tokens.subarray(k * seqLen, Math.min(n, (k + 1) * seqLen)) };
  }
  return out;
}
