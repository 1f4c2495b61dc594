/**
 * Packing throughput on synthetic, pre-tokenized documents: log-normal lengths (mean ≈ 600
 * tokens, σ = 1, so ~4% are longer than L = 2048 and must be cut), packed a buffer of K
 * documents at a time by best-fit decreasing, then laid out as batch arrays.
 *
 * Each buffer is packed on its own, so its last few bins are part-empty; the streaming loader
 * carries those over instead, and fills better than `fillRate` here.
 */
import { assembleBatch } from "../src/batch/assemble.js";
import { BestFitPacker, rowsFromBins } from "../src/pack/best-fit.js";
import { minTruncations } from "../src/pack/chunk.js";
import type { PackItem } from "../src/pack/types.js";
import { mulberry32 } from "../src/util/hash.js";

export interface PackBenchOptions {
  /** Row length L. Default 2048. */
  readonly seqLen?: number;
  /** Documents per packing buffer K. Default 2048. */
  readonly bufferDocs?: number;
  /** Number of buffers packed. Default 200 (~245 M tokens at mean 600, K = 2048). */
  readonly buffers?: number;
  /** Mean document length in tokens. Default 600. */
  readonly meanLength?: number;
  readonly seed?: number;
  /** Rows per assembled batch. Default 64. */
  readonly batchRows?: number;
}

export interface PackBenchResult {
  /** Document tokens per second through chunking + best-fit decreasing (lengths only). */
  readonly tokensPerSecond: number;
  /** Tokens per second laying packed rows out as batch arrays (input_ids, targets, ...). */
  readonly assembleTokensPerSecond: number;
  /** Tokens per second for both, end to end. */
  readonly endToEndTokensPerSecond: number;
  /** Document tokens / (rows · L). */
  readonly fillRate: number;
  /** Cuts made (documents longer than L, cut into ⌈n/L⌉ pieces). */
  readonly truncations: number;
  /** Σ max(0, ⌈n/L⌉ − 1): equal to `truncations` for best fit. */
  readonly minTruncations: number;
  readonly documents: number;
  readonly tokens: number;
  readonly rows: number;
}

function lognormalLengths(count: number, mean: number, rand: () => number): Int32Array {
  const sigma = 1;
  const mu = Math.log(mean) - (sigma * sigma) / 2;
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const z = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    out[i] = Math.max(1, Math.min(1 << 16, Math.round(Math.exp(mu + sigma * z))));
  }
  return out;
}

export function benchPacking(options: PackBenchOptions = {}): PackBenchResult {
  const L = options.seqLen ?? 2048;
  const K = options.bufferDocs ?? 2048;
  const buffers = options.buffers ?? 200;
  const batchRows = options.batchRows ?? 64;
  const rand = mulberry32(options.seed ?? 1);

  // Inputs are generated outside the timed region: documents as views into one token pool.
  const docLengths = Array.from({ length: buffers }, () => lognormalLengths(K, options.meanLength ?? 600, rand));
  let maxDoc = 0;
  for (const b of docLengths) for (const n of b) if (n > maxDoc) maxDoc = n;
  const pool = new Int32Array(maxDoc);
  for (let i = 0; i < maxDoc; i++) pool[i] = (i * 2654435761) >>> 17;

  const packer = new BestFitPacker(L);
  let packMs = 0;
  let assembleMs = 0;
  let tokens = 0;
  let rows = 0;
  let truncations = 0;
  let minCuts = 0;
  let pieceLengths = new Int32Array(0);

  for (const lengths of docLengths) {
    // Pack: chunk lengths (all L except each document's last piece), then BFD.
    const t0 = performance.now();
    let pieces = 0;
    for (let i = 0; i < K; i++) pieces += Math.ceil(lengths[i] / L);
    if (pieceLengths.length < pieces) pieceLengths = new Int32Array(pieces * 2);
    const pieceDoc = new Int32Array(pieces);
    const pieceOff = new Int32Array(pieces);
    let p = 0;
    for (let i = 0; i < K; i++) {
      const n = lengths[i];
      for (let off = 0; off < n; off += L) {
        pieceLengths[p] = Math.min(L, n - off);
        pieceDoc[p] = i;
        pieceOff[p] = off;
        p++;
      }
    }
    const packed = packer.pack(pieceLengths.subarray(0, pieces));
    const t1 = performance.now();
    packMs += t1 - t0;

    // Assemble: rows of items (views into the pool), a batch of `batchRows` rows at a time.
    const items: PackItem[] = new Array(pieces);
    for (let q = 0; q < pieces; q++) {
      items[q] = { id: q, domain: pieceDoc[q] % 16, tokens: pool.subarray(pieceOff[q], pieceOff[q] + pieceLengths[q]) };
    }
    const packedRows = rowsFromBins(packed, items);
    for (let r = 0; r < packedRows.length; r += batchRows) assembleBatch(packedRows.slice(r, r + batchRows), L, 0);
    assembleMs += performance.now() - t1;

    for (let i = 0; i < K; i++) tokens += lengths[i];
    rows += packed.binCount;
    truncations += pieces - K;
    minCuts += minTruncations(lengths, L);
  }

  return {
    tokensPerSecond: tokens / (packMs / 1000),
    assembleTokensPerSecond: tokens / (assembleMs / 1000),
    endToEndTokensPerSecond: tokens / ((packMs + assembleMs) / 1000),
    fillRate: tokens / (rows * L),
    truncations,
    minTruncations: minCuts,
    documents: K * buffers,
    tokens,
    rows,
  };
}
