/**
 * Megatron-LM indexed datasets (`prefix.bin` + `prefix.idx`), as written by Megatron-core's
 * `IndexedDatasetBuilder` (megatron/core/datasets/indexed_dataset.py).
 *
 * `.idx`, all little-endian:
 *   magic "MMIDIDX\0\0" (9 bytes) | version u64 = 1 | dtype code u8 | sequence count u64 (S)
 *   | document-index count u64 (D) | sequence_lengths i32[S] (tokens) | sequence_pointers i64[S]
 *   (byte offsets into .bin) | document_indices i64[D] | (multimodal only: sequence_modes i8[S])
 * document_indices runs from 0 to S, so D = documents + 1; document d is the concatenation of
 * sequences [document_indices[d], document_indices[d+1]).
 * `.bin` is the raw token values in the dtype, with no header.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import type { BadDocument, RawDocument, SourceInfo, SyncSource } from "./types.js";
import { DataError } from "../util/errors.js";
import { GrowableF64, openForRead, readExact, statIdentity } from "./io.js";
import { filesIdentity } from "./identity.js";
import { checkTokens, emptyDocument } from "./token-check.js";

const MAGIC = Buffer.from("MMIDIDX\0\0", "latin1");
const HEADER_BYTES = 9 + 8 + 1 + 8 + 8;

/** Megatron's DType enum codes; only the integer ones can hold token ids. */
const DTYPES = new Map<number, { name: string; size: number }>([
  [1, { name: "uint8", size: 1 }],
  [2, { name: "int8", size: 1 }],
  [3, { name: "int16", size: 2 }],
  [4, { name: "int32", size: 4 }],
  [5, { name: "int64", size: 8 }],
  [8, { name: "uint16", size: 2 }],
]);
const FLOAT_CODES = new Map([
  [6, "float64"],
  [7, "float32"],
]);
export const DTYPE_UINT16 = 8;

/** Bytes per token of a dtype code that parseIndex accepted. */
export function itemBytes(dtype: number): number {
  return DTYPES.get(dtype)!.size;
}
export const DTYPE_INT32 = 4;

export function assertLittleEndian(): void {
  // Typed-array views below use the host byte order; every platform Node ships for is LE.
  if (os.endianness() !== "LE") throw new Error("Megatron files are little-endian; big-endian hosts are not supported");
}

export interface MegatronIndex {
  readonly dtype: number;
  readonly lengths: Int32Array;
  readonly pointers: Float64Array;
  readonly docIndices: Float64Array;
}

/** Parse and check an `.idx` against the size of its `.bin`; every inconsistency is a `DataError` naming the file. */
export function parseIndex(idx: Buffer, idxPath: string, binSize: number, binPath: string): MegatronIndex {
  const fail = (what: string, file = idxPath): never => {
    throw new DataError("bad_format", file, undefined, what);
  };
  if (idx.length < HEADER_BYTES) fail(`truncated: ${idx.length} bytes, shorter than the ${HEADER_BYTES}-byte header`);
  const magic = idx.subarray(0, 9);
  if (!magic.equals(MAGIC)) fail(`wrong magic ${JSON.stringify(magic.toString("latin1"))}, expected "MMIDIDX\\0\\0"`);
  const version = idx.readBigUInt64LE(9);
  if (version !== 1n) fail(`unsupported version ${version}, expected 1`);
  const dtype = idx.readUInt8(17);
  if (FLOAT_CODES.has(dtype)) fail(`dtype code ${dtype} (${FLOAT_CODES.get(dtype)}) cannot hold token ids`);
  const dt = DTYPES.get(dtype) ?? fail(`unknown dtype code ${dtype}`);
  const seqCount = idx.readBigUInt64LE(18);
  const docCount = idx.readBigUInt64LE(26);
  const need = BigInt(HEADER_BYTES) + seqCount * 12n + docCount * 8n;
  if (BigInt(idx.length) < need) {
    const declared = `${seqCount} sequences and ${docCount} document indices (${need} bytes)`;
    fail(`truncated: header declares ${declared}, file has ${idx.length}`);
  }
  const S = Number(seqCount);
  const D = Number(docCount);
  const extra = idx.length - Number(need);
  if (extra !== 0 && extra !== S) fail(`${extra} unexpected bytes after the document indices`);

  // slice() copies to a fresh, aligned buffer: the arrays start at odd offsets in the file.
  const at = (off: number, bytes: number): ArrayBuffer => idx.buffer.slice(idx.byteOffset + off, idx.byteOffset + off + bytes) as ArrayBuffer;
  const lengths = new Int32Array(at(HEADER_BYTES, S * 4));
  const rawPointers = new BigInt64Array(at(HEADER_BYTES + S * 4, S * 8));
  const rawDocs = new BigInt64Array(at(HEADER_BYTES + S * 12, D * 8));

  if (D < 1 || rawDocs[0] !== 0n || rawDocs[D - 1] !== seqCount) {
    const got = D === 0 ? "none" : `${rawDocs[0]}..${rawDocs[D - 1]}`;
    fail(`document indices must run from 0 to the sequence count ${S}, got ${got}`);
  }
  const docIndices = new Float64Array(D);
  for (let d = 0; d < D; d++) {
    docIndices[d] = Number(rawDocs[d]);
    if (d > 0 && docIndices[d] < docIndices[d - 1]) fail(`document indices decrease at document ${d - 1}`);
  }
  const pointers = new Float64Array(S);
  for (let s = 0; s < S; s++) {
    const p = Number(rawPointers[s]);
    const len = lengths[s];
    if (len < 0) fail(`sequence ${s} has negative length ${len}`);
    if (p < 0 || p + len * dt.size > binSize) {
      fail(`sequence ${s} (${len} tokens at byte ${p}) runs past the end of ${binPath} (${binSize} bytes)`);
    }
    pointers[s] = p;
  }
  return { dtype, lengths, pointers, docIndices };
}

export interface MegatronOptions {
  /** Ids must be in [0, vocabSize); others make the document `token_out_of_range`. Unset: not checked. */
  readonly vocabSize?: number;
}

export async function openMegatron(prefix: string, options: MegatronOptions = {}): Promise<SyncSource> {
  assertLittleEndian();
  const idxPath = `${prefix}.idx`;
  const binPath = `${prefix}.bin`;
  let idx: Buffer;
  try {
    idx = await fs.promises.readFile(idxPath);
  } catch (e) {
    throw new DataError("unreadable_file", idxPath, undefined, (e as Error).message);
  }
  const bin = openForRead(binPath);
  try {
    const index = parseIndex(idx, idxPath, bin.size, binPath);
    // Small token files are read into memory once: a positioned read per document costs a
    // system call (~5 µs), more than packing the document. Large ones stay on disk (page cache).
    const preloaded = bin.size <= PRELOAD_LIMIT_BYTES ? preload(bin.fd, bin.size, index) : null;
    const identity = filesIdentity([
      { name: idxPath, identity: statIdentity(fs.statSync(idxPath)) },
      { name: binPath, identity: statIdentity(fs.fstatSync(bin.fd)) },
    ]);
    const info: SourceInfo = { format: "megatron", files: 2, remote: false, bytes: bin.size + idx.length };
    return new MegatronSource(prefix, bin.fd, index, preloaded, options.vocabSize, info, identity);
  } catch (e) {
    fs.closeSync(bin.fd);
    throw e;
  }
}

/** `.bin` files up to this size are held in memory (see openMegatron). */
export const PRELOAD_LIMIT_BYTES = 128 << 20;

/**
 * The whole `.bin` widened to int32 once, so a single-sequence document is a zero-copy view.
 * Null when a token does not fit int32 (int64 files): those go through the checked path.
 */
function preload(fd: number, size: number, index: MegatronIndex): Int32Array | null {
  const itemSize = DTYPES.get(index.dtype)!.size;
  for (let s = 0; s < index.pointers.length; s++) if (Number(index.pointers[s]) % itemSize !== 0) return null; // unaligned: keep the checked path
  const bytes = readExact(fd, 0, size - (size % itemSize));
  const out = new Int32Array(bytes.length / itemSize);
  return convert(bytes, index.dtype, out, 0) === undefined ? out : null;
}

/** Document `d`'s tokens as served, or why not: the rule local and remote Megatron (megatron-remote.ts) share. */
export function megatronDocument(tokens: Int32Array, d: number, prefix: string, vocabSize: number | undefined): RawDocument | BadDocument {
  // preprocess_data.py writes a document with no sequences for an empty text.
  if (tokens.length === 0) return emptyDocument(`${prefix}.idx`, d, "has no tokens");
  return checkTokens(tokens, vocabSize, `${prefix}.bin`, d) ?? { kind: "tokens", tokens };
}

class MegatronSource implements SyncSource {
  readonly numDocuments: number;
  private readonly size: number;

  constructor(
    readonly description: string,
    private readonly fd: number,
    private readonly index: MegatronIndex,
    /** The whole `.bin` as int32 tokens, when small enough (see preload). */
    private readonly preloaded: Int32Array | null,
    private readonly vocabSize: number | undefined,
    readonly info: SourceInfo,
    /** Size and mtime of the `.bin` and the `.idx`. */
    readonly identity: string,
  ) {
    this.numDocuments = index.docIndices.length - 1;
    this.size = DTYPES.get(index.dtype)!.size;
  }

  read(d: number): RawDocument | BadDocument {
    const tokens = this.tokens(d);
    if (!(tokens instanceof Int32Array)) return tokens;
    return megatronDocument(tokens, d, this.description, this.vocabSize);
  }

  private tokens(d: number): Int32Array | BadDocument {
    if (!(d >= 0 && d < this.numDocuments)) throw new RangeError(`document ${d} out of range`);
    const { lengths, pointers, docIndices, dtype } = this.index;
    const first = docIndices[d];
    const last = docIndices[d + 1];
    if (this.preloaded !== null && last === first + 1) {
      const at = Number(pointers[first]) / this.size;
      return this.preloaded.subarray(at, at + lengths[first]);
    }
    let total = 0;
    for (let s = first; s < last; s++) total += lengths[s];
    const out = new Int32Array(total);
    let k = 0;
    for (let s = first; s < last; s++) {
      const n = lengths[s];
      if (this.preloaded !== null) {
        const at = Number(pointers[s]) / this.size;
        out.set(this.preloaded.subarray(at, at + n), k);
      } else if (dtype === DTYPE_INT32) {
        // Read straight into the result: no conversion needed.
        readExact(this.fd, pointers[s], n * 4, new Uint8Array(out.buffer, k * 4, n * 4));
      } else {
        const bytes = readExact(this.fd, pointers[s], n * this.size);
        const bad = convert(bytes, dtype, out, k);
        if (bad !== undefined) return { kind: "bad", reason: "bad_format", file: `${this.description}.bin`, detail: bad };
      }
      k += n;
    }
    return out;
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/** Widen `bytes` of the given dtype into out[at...]; returns a problem description for unrepresentable int64 values. */
export function convert(bytes: Uint8Array, dtype: number, out: Int32Array, at: number): string | undefined {
  // `bytes` is fresh from readExact or a view of the preloaded file at a pointer that is a
  // multiple of the item size (Megatron pointers are), so typed views over it are aligned.
  const buf = bytes.buffer;
  const off = bytes.byteOffset;
  switch (dtype) {
    case 1:
      out.set(bytes, at);
      return;
    case 2:
      out.set(new Int8Array(buf, off, bytes.length), at);
      return;
    case 3:
      out.set(new Int16Array(buf, off, bytes.length / 2), at);
      return;
    case 4:
      out.set(new Int32Array(buf, off, bytes.length / 4), at);
      return;
    case 8:
      out.set(new Uint16Array(buf, off, bytes.length / 2), at);
      return;
    case 5: {
      const wide = new BigInt64Array(buf, off, bytes.length / 8);
      for (let i = 0; i < wide.length; i++) {
        const v = wide[i];
        if (v < -2147483648n || v > 2147483647n) return `token ${v} does not fit in int32`;
        out[at + i] = Number(v);
      }
      return;
    }
  }
  return `unsupported dtype ${dtype}`;
}

export interface MegatronWriterOptions {
  /** Vocabulary size: ids must be in [0, vocabSize). ≤ 65536 stores uint16, larger stores int32. */
  readonly vocabSize: number;
}

/**
 * Streaming writer: each `add` appends one document (one sequence) to the `.bin`;
 * `finish` writes the `.idx`. Both go to temp names renamed at the end, so a crashed
 * run never leaves a pair that looks complete.
 *
 * dtype: uint16 holds ids 0..65535, so any vocabulary of ≤ 65536 fits. (Megatron's own
 * `optimal_dtype` switches at < 65500; readers only look at the dtype code, so both agree.)
 */
export class MegatronWriter {
  readonly dtype: number;
  private readonly itemSize: number;
  private readonly tmpBin: string;
  private readonly tmpIdx: string;
  private fd: number;
  private readonly lengths = new GrowableF64();
  private buf = new Uint8Array(1 << 20);
  private used = 0;
  private done = false;

  constructor(
    readonly prefix: string,
    private readonly options: MegatronWriterOptions,
  ) {
    assertLittleEndian();
    if (!Number.isInteger(options.vocabSize) || options.vocabSize < 1) {
      throw new RangeError(`vocabSize must be a positive integer, got ${options.vocabSize}`);
    }
    this.dtype = options.vocabSize <= 65536 ? DTYPE_UINT16 : DTYPE_INT32;
    this.itemSize = this.dtype === DTYPE_UINT16 ? 2 : 4;
    const tag = `${process.pid}.${Date.now()}.tmp`;
    this.tmpBin = `${prefix}.bin.${tag}`;
    this.tmpIdx = `${prefix}.idx.${tag}`;
    this.fd = fs.openSync(this.tmpBin, "w");
  }

  /** Append one document. */
  add(tokens: Int32Array): void {
    if (this.done) throw new Error("MegatronWriter: add after finish");
    const vocab = this.options.vocabSize;
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      if (t < 0 || t >= vocab) {
        throw new RangeError(`token ${t} at position ${i} of document ${this.lengths.length} is outside [0, ${vocab})`);
      }
    }
    const bytes = tokens.length * this.itemSize;
    if (this.used + bytes > this.buf.length) this.flush();
    if (bytes > this.buf.length) this.buf = new Uint8Array(bytes);
    const target = this.buf.subarray(this.used, this.used + bytes);
    if (this.dtype === DTYPE_UINT16) new Uint16Array(target.buffer, target.byteOffset, tokens.length).set(tokens);
    else target.set(new Uint8Array(tokens.buffer, tokens.byteOffset, bytes));
    this.used += bytes;
    this.lengths.push(tokens.length);
  }

  get numDocuments(): number {
    return this.lengths.length;
  }

  /** Write the `.idx` and move both files into place. */
  finish(): void {
    if (this.done) return;
    this.flush();
    fs.closeSync(this.fd);
    this.done = true;
    const lengths = this.lengths.finish();
    const S = lengths.length;
    const header = Buffer.alloc(HEADER_BYTES);
    MAGIC.copy(header, 0);
    header.writeBigUInt64LE(1n, 9);
    header.writeUInt8(this.dtype, 17);
    header.writeBigUInt64LE(BigInt(S), 18);
    header.writeBigUInt64LE(BigInt(S + 1), 26);
    const lens = Int32Array.from(lengths);
    const pointers = new BigInt64Array(S);
    let p = 0;
    for (let s = 0; s < S; s++) {
      pointers[s] = BigInt(p);
      p += lengths[s] * this.itemSize;
    }
    // One sequence per document, so document_indices is simply 0..S.
    const docs = new BigInt64Array(S + 1);
    for (let d = 0; d <= S; d++) docs[d] = BigInt(d);
    const fd = fs.openSync(this.tmpIdx, "w");
    try {
      for (const part of [header, lens, pointers, docs]) {
        fs.writeSync(fd, new Uint8Array(part.buffer, part.byteOffset, part.byteLength));
      }
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(this.tmpBin, `${this.prefix}.bin`);
    fs.renameSync(this.tmpIdx, `${this.prefix}.idx`);
  }

  /** Give up: close and delete the temp files. */
  abort(): void {
    if (!this.done) fs.closeSync(this.fd);
    this.done = true;
    fs.rmSync(this.tmpBin, { force: true });
    fs.rmSync(this.tmpIdx, { force: true });
  }

  private flush(): void {
    let off = 0;
    while (off < this.used) off += fs.writeSync(this.fd, this.buf, off, this.used - off);
    this.used = 0;
  }
}
