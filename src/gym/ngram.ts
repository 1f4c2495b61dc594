/**
 * The gym's learner: an interpolated Kneser–Ney trigram language model (Chen & Goodman 1998,
 * §3.5, one absolute discount D per order) trained online on exactly the tokens the loader
 * serves. With h = (u, v) the two previous tokens of the same segment (BOS = id V before
 * a segment's first token) and c(·) counts of what has been trained so far:
 *
 *   P3(w | u v) = [max(c(uvw) − D, 0) + D · N1+(uv•) · P2(w | v)] / c(uv•)     (P2 if c(uv•) = 0)
 *   P2(w | v)   = [max(N1+(•vw) − D, 0) + D · N1+(v•)' · P1(w)] / N1+(•v•)     (P1 if N1+(•v•) = 0)
 *   P1(w)       = [max(N1+(•w) − D, 0) + D · N1+(•)' / V] / N1+(••)            (1/V before any data)
 *
 * N1+(•vw) = number of distinct u with c(uvw) > 0 (the continuation count of KN), N1+(•v•) =
 * Σ_w N1+(•vw), N1+(v•)' = #{w : N1+(•vw) > 0}; likewise one order down over bigram types.
 * Every count that is positive is ≥ 1 > D, so each level sums to exactly 1 over the V
 * predictable ids (test/gym/ngram.test.ts checks it). All counts live in typed-array hash
 * maps (count-map.ts) and dense arrays; scoring and training allocate nothing per token.
 *
 * Training loss is prequential: a step's tokens are scored with the model as it was before
 * the step, then added — the n-gram analogue of "loss on the batch, then the optimizer step".
 */
import type { Batch } from "../batch/assemble.js";
import { IGNORE_INDEX } from "../batch/assemble.js";
import { CountMap } from "./count-map.js";

export type BatchArrays = Pick<Batch, "input_ids" | "targets" | "position_ids">;

export interface LearnerOptions {
  /** Absolute discount D ∈ (0, 1). */
  readonly discount?: number;
}

export class KneserNeyTrigram {
  /** Context-only id standing before a segment's first token. */
  readonly bos: number;
  readonly discount: number;
  private readonly S: number;
  private readonly tri = new CountMap(1, 16); // c(uvw)
  private readonly ctx3 = new CountMap(2, 15); // [c(uv•), N1+(uv•)]
  private readonly bi = new CountMap(1, 15); // N1+(•vw)
  private readonly s2: Float64Array; // N1+(•v•)
  private readonly t2: Float64Array; // N1+(v•)'
  private readonly n1: Float64Array; // N1+(•w) over bigram types
  private s1 = 0; // bigram types
  private t1 = 0; // #{w : n1(w) > 0}

  constructor(
    readonly vocabSize: number,
    options: LearnerOptions = {},
  ) {
    const D = options.discount ?? 0.75;
    if (!(D > 0 && D < 1)) throw new RangeError(`discount must be in (0, 1), got ${D}`);
    if (!Number.isSafeInteger((vocabSize + 1) ** 3)) throw new RangeError(`vocabulary ${vocabSize} too large for packed trigram keys`);
    this.discount = D;
    this.bos = vocabSize;
    this.S = vocabSize + 1;
    this.s2 = new Float64Array(this.S);
    this.t2 = new Float64Array(this.S);
    this.n1 = new Float64Array(vocabSize);
  }

  /** Trigram types stored (a size figure for reports). */
  get types(): number {
    return this.tri.size;
  }

  /** P(w | u v). */
  prob(u: number, v: number, w: number): number {
    const D = this.discount,
      V = this.vocabSize,
      S = this.S;
    let p = this.s1 > 0 ? (Math.max(this.n1[w] - D, 0) + (D * this.t1) / V) / this.s1 : 1 / V;
    const s2 = this.s2[v];
    if (s2 > 0) p = (Math.max(this.bi.get(v * S + w) - D, 0) + D * this.t2[v] * p) / s2;
    const c = this.ctx3.find(u * S + v);
    if (c >= 0) {
      const total = this.ctx3.vals[2 * c],
        types = this.ctx3.vals[2 * c + 1];
      p = (Math.max(this.tri.get((u * S + v) * S + w) - D, 0) + D * types * p) / total;
    }
    return p;
  }

  /** −ln P(w | u v), in nats. */
  loss(u: number, v: number, w: number): number {
    return -Math.log(this.prob(u, v, w));
  }

  /** Count one occurrence of w after (u, v). */
  add(u: number, v: number, w: number): void {
    const S = this.S;
    const t = this.tri.slot((u * S + v) * S + w);
    const newTrigram = this.tri.vals[t] === 0;
    this.tri.vals[t] += 1;
    const c = this.ctx3.slot(u * S + v);
    this.ctx3.vals[2 * c] += 1;
    if (!newTrigram) return;
    this.ctx3.vals[2 * c + 1] += 1;
    const b = this.bi.slot(v * S + w);
    if (this.bi.vals[b] === 0) {
      this.t2[v] += 1;
      if (this.n1[w] === 0) this.t1 += 1;
      this.n1[w] += 1;
      this.s1 += 1;
    }
    this.bi.vals[b] += 1;
    this.s2[v] += 1;
  }

  /** Per-position loss of a batch (NaN where the target is ignored), before training on it. */
  scoreBatch(batch: BatchArrays, out: Float64Array): void {
    const { input_ids: x, targets: y, position_ids: pos } = batch;
    for (let t = 0; t < y.length; t++) {
      const w = y[t];
      out[t] = w === IGNORE_INDEX ? NaN : this.loss(pos[t] > 0 ? x[t - 1] : this.bos, x[t], w);
    }
  }

  trainBatch(batch: BatchArrays): void {
    const { input_ids: x, targets: y, position_ids: pos } = batch;
    for (let t = 0; t < y.length; t++) {
      const w = y[t];
      if (w !== IGNORE_INDEX) this.add(pos[t] > 0 ? x[t - 1] : this.bos, x[t], w);
    }
  }

  /**
   * Σ loss and count over documents cut into segments of at most `seqLen` tokens, each
   * segment's first token serving as context only — exactly how training rows are scored.
   */
  evaluate(docs: readonly Int32Array[], seqLen: number): { lossSum: number; tokens: number } {
    let lossSum = 0,
      tokens = 0;
    for (const d of docs) {
      for (let start = 0; start < d.length; start += seqLen) {
        const end = Math.min(d.length, start + seqLen);
        for (let t = start; t + 1 < end; t++) {
          lossSum += this.loss(t > start ? d[t - 1] : this.bos, d[t], d[t + 1]);
          tokens += 1;
        }
      }
    }
    return { lossSum, tokens };
  }
}
