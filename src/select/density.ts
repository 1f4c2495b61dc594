/**
 * Density scores: the kernel density estimate the Density sampler of Sachdeva et al. 2024
 * ("How to Train Data-Efficient LLMs", §3.2) samples against, computed with a RACE sketch
 * (Coleman & Shrivastava 2020, "Sub-linear RACE sketches for approximate kernel density
 * estimation on streaming data"), as the paper does:
 *
 *   pass 1: for each of R locality-sensitive hash functions h_r, count the documents in each
 *           bucket: A[r, b] = #{ i : h_r(x_i) = b };
 *   pass 2: score(x) = (1 / (R·N)) Σ_r A[r, h_r(x)]  ≈  (1/N) Σ_i k(x, x_i),
 *
 * where k is the LSH kernel, the probability two points collide: with h_r a concatenation of
 * `bits` signed random projections (Charikar 2002), k(x, y) = (1 − θ(x, y)/π)^bits. Selection then
 * keeps each document with probability ∝ 1 / score (policy.ts, `sample: "inverse_density"`).
 *
 * The paper embeds documents with a neural encoder (Sentence-T5). None is available offline, so
 * the embedding here is hashed n-gram features (Weinberger et al. 2009's feature hashing): every
 * token unigram and bigram adds ±1 to one of `dims` coordinates chosen by a hash, and the vector
 * is L2-normalised. It measures lexical, not semantic, redundancy — near-copies and boilerplate
 * score high, unusual vocabulary low.
 *
 * Scores are per domain (the sketch holds that domain's documents), matching per-domain selection.
 */
import { fmix32, hashInts, mulberry32 } from "../util/hash.js";

export interface DensityParams {
  /** R, the number of hash functions (rows of the sketch). */
  readonly tables: number;
  /** Signed random projections concatenated per hash: buckets per row = 2^bits (≤ 16). */
  readonly bits: number;
  /** Embedding dimensions of the hashed n-gram features. */
  readonly dims: number;
  readonly seed: number;
}

export const DEFAULT_DENSITY: Omit<DensityParams, "seed"> = { tables: 32, bits: 8, dims: 256 };

/** Hashed unigram + bigram features of a token sequence, L2-normalised, into `out` (length dims). */
export function embed(tokens: Int32Array, out: Float64Array): void {
  out.fill(0);
  const d = out.length;
  for (let t = 0; t < tokens.length; t++) {
    const uni = fmix32((tokens[t] + 0x2545f491) >>> 0);
    out[uni % d] += uni & 0x80000000 ? -1 : 1;
    if (t + 1 < tokens.length) {
      const bi = hashInts(0x6267, tokens[t], tokens[t + 1]);
      out[bi % d] += bi & 0x80000000 ? -1 : 1;
    }
  }
  let norm = 0;
  for (let j = 0; j < d; j++) norm += out[j] * out[j];
  if (norm > 0) {
    const s = 1 / Math.sqrt(norm);
    for (let j = 0; j < d; j++) out[j] *= s;
  }
}

/** The RACE sketch over one domain's embeddings. */
export class DensitySketch {
  private readonly projections: Float64Array;
  private readonly counts: Uint32Array;
  private readonly codes: number[] = [];
  private readonly vector: Float64Array;
  private inserted = 0;

  constructor(readonly params: DensityParams) {
    if (!(params.bits >= 1 && params.bits <= 16)) throw new RangeError(`bits must be in [1, 16], got ${params.bits}`);
    const { tables, bits, dims } = params;
    // Gaussian projection directions (Box–Muller over a seeded PRNG): one per (table, bit).
    const rand = mulberry32(hashInts(0x64656e73, params.seed));
    this.projections = new Float64Array(tables * bits * dims);
    for (let i = 0; i < this.projections.length; i++) {
      const u = Math.max(rand(), 1e-12);
      this.projections[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
    }
    this.counts = new Uint32Array(tables << bits);
    this.vector = new Float64Array(dims);
  }

  /** Pass 1: add a document (null: a bad document, which takes no bucket and gets no score). */
  insert(tokens: Int32Array | null): void {
    if (tokens === null) {
      this.codes.push(-1);
      return;
    }
    embed(tokens, this.vector);
    const { tables, bits, dims } = this.params;
    for (let r = 0; r < tables; r++) {
      let code = 0;
      for (let b = 0; b < bits; b++) {
        const base = (r * bits + b) * dims;
        let dot = 0;
        for (let j = 0; j < dims; j++) dot += this.projections[base + j] * this.vector[j];
        code = (code << 1) | (dot >= 0 ? 1 : 0);
      }
      this.codes.push(code);
      this.counts[(r << bits) + code] += 1;
    }
    this.inserted += 1;
  }

  /** Pass 2: every inserted document's score, in insertion order (NaN for bad documents). */
  scores(): Float64Array {
    const { tables, bits } = this.params;
    const out: number[] = [];
    let at = 0;
    while (at < this.codes.length) {
      if (this.codes[at] === -1) {
        out.push(NaN);
        at += 1;
        continue;
      }
      let sum = 0;
      for (let r = 0; r < tables; r++) sum += this.counts[(r << bits) + this.codes[at + r]];
      out.push(sum / (tables * this.inserted));
      at += tables;
    }
    return Float64Array.from(out);
  }
}
