/**
 * One step's feedback, built from per-token losses exactly as a trainer would: per domain
 * loss_sum and tokens, DoReMi's excess_loss_sum = Σ max(ℓ − ℓ_ref, 0) and ref_loss_sum
 * (per-token clip, against the frozen reference learner), and DoGE's grad_alignment.
 *
 * DoGE surrogate (the n-gram learner has no gradients). The learner's update on a step is
 * adding counts, so domain i's "update vector" is its bigram-event count vector over the
 * step, per token: u_i[(v, w)] = c_i(v, w) / n_i (v the context token, w the target; dividing
 * by n_i makes it a per-domain MEAN, as DoGE's per-domain gradients are). Then, as in
 * DoGE's trainer (MIXERS.md), with U = Σ_j u_j over the domains present:
 *
 *   s_i = ⟨u_i, Σ_{j≠i} u_j⟩ / mean_j ‖u_j‖ = (⟨u_i, U⟩ − ‖u_i‖²) / mean_j ‖u_j‖
 *
 * s_i is large when domain i teaches the model the same transitions the other domains need
 * (function-word and general-English bigrams), small for domains whose bigrams are their own.
 * Counts are non-negative, so s_i ≥ 0: DoGE's dw_min = 0 clip never binds here.
 *
 * Out-of-domain mode (gym.doge_target; DoGE §2.2, the official trainer's row sums of
 * G_train G_tgtᵀ without the diagonal removed): s_i = ⟨u_i, u_tgt⟩ / mean_j ‖u_j‖, with u_tgt the
 * target set's bigram frequencies (targetVector). A learner with real gradients passes its own
 * s_i (learner.ts TrainResult.gradAlignment) and the surrogate is not used.
 */
import { IGNORE_INDEX } from "../batch/assemble.js";
import type { DomainFeedback, StepFeedback } from "../../mixers/contract.js";
import { CountMap } from "./count-map.js";
import type { BatchArrays } from "./ngram.js";

/** The target set's bigram frequencies u_tgt[(v, w)] = c(v, w) / n, keyed v·S + w (BOS = S − 1 before a document). */
export function targetVector(docs: readonly Int32Array[], S: number): CountMap {
  const m = new CountMap(1, 14);
  let n = 0;
  for (const d of docs)
    for (let t = 0; t + 1 < d.length; t++) {
      const k = m.slot(d[t] * S + d[t + 1]);
      m.vals[k] += 1;
      n += 1;
    }
  m.forEach((_, slot) => {
    m.vals[slot] /= n;
  });
  return m;
}

export class StepSignals {
  private readonly lossSum: Float64Array;
  private readonly excess: Float64Array;
  private readonly refSum: Float64Array;
  private readonly tokens: Float64Array;
  private readonly events = new CountMap(1, 14); // (d, v, w) → count
  private readonly total = new CountMap(1, 14); // (v, w) → Σ_d c_d / n_d
  private readonly dot: Float64Array;
  private readonly sq: Float64Array;

  constructor(
    readonly K: number,
    private readonly S: number,
    /** DoGE's out-of-domain target (targetVector), or null for the in-domain Σ_{j≠i}. */
    private readonly target: CountMap | null = null,
  ) {
    this.lossSum = new Float64Array(K);
    this.excess = new Float64Array(K);
    this.refSum = new Float64Array(K);
    this.tokens = new Float64Array(K);
    this.dot = new Float64Array(K);
    this.sq = new Float64Array(K);
  }

  /**
   * Aggregate a step. `loss[t]`/`ref[t]` are the learner's and the reference's per-position
   * losses (NaN where ignored). `evalLoss` (held-out mean loss per domain) is attached when given.
   */
  build(
    step: number,
    batch: BatchArrays & { domain_ids: Int16Array },
    loss: Float64Array,
    ref: Float64Array | null,
    lr: number,
    evalLoss: Float64Array | null,
    gradAlignment?: Float64Array,
  ): StepFeedback {
    const K = this.K,
      S = this.S;
    this.lossSum.fill(0);
    this.excess.fill(0);
    this.refSum.fill(0);
    this.tokens.fill(0);
    this.events.clear();
    this.total.clear();
    this.dot.fill(0);
    this.sq.fill(0);
    const { input_ids: x, targets: y, domain_ids: dom } = batch;
    for (let t = 0; t < y.length; t++) {
      if (y[t] === IGNORE_INDEX) continue;
      const d = dom[t];
      this.tokens[d] += 1;
      this.lossSum[d] += loss[t];
      if (ref) {
        this.refSum[d] += ref[t];
        if (loss[t] > ref[t]) this.excess[d] += loss[t] - ref[t];
      }
      const e = this.events.slot((d * S + x[t]) * S + y[t]);
      this.events.vals[e] += 1;
    }
    // U = Σ_d c_d / n_d, then ⟨u_d, U⟩ and ‖u_d‖² per domain.
    const SS = S * S;
    this.events.forEach((key, slot) => {
      const d = Math.floor(key / SS);
      const s = this.total.slot(key - d * SS);
      this.total.vals[s] += this.events.vals[slot] / this.tokens[d];
    });
    this.events.forEach((key, slot) => {
      const d = Math.floor(key / SS);
      const u = this.events.vals[slot] / this.tokens[d];
      this.dot[d] += u * (this.target ? this.target.get(key - d * SS) : this.total.get(key - d * SS));
      this.sq[d] += u * u;
    });
    let present = 0,
      meanNorm = 0;
    for (let d = 0; d < K; d++)
      if (this.tokens[d] > 0) {
        present += 1;
        meanNorm += Math.sqrt(this.sq[d]);
      }
    meanNorm /= Math.max(present, 1);
    const domains = new Map<number, DomainFeedback>();
    for (let d = 0; d < K; d++) {
      if (this.tokens[d] === 0) continue;
      const f: DomainFeedback = {
        loss_sum: this.lossSum[d],
        tokens: this.tokens[d],
        grad_alignment: gradAlignment ? gradAlignment[d] : this.surrogate(d, present, meanNorm),
      };
      if (ref) {
        f.excess_loss_sum = this.excess[d];
        f.ref_loss_sum = this.refSum[d];
      }
      if (evalLoss) f.eval_loss = evalLoss[d];
      domains.set(d, f);
    }
    return { step, domains, lr };
  }

  private surrogate(d: number, present: number, meanNorm: number): number {
    if (meanNorm <= 0) return 0;
    if (this.target) return this.dot[d] / meanNorm;
    return present > 1 ? Math.max(this.dot[d] - this.sq[d], 0) / meanNorm : 0;
  }
}
