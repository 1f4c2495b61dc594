/**
 * `doge`: Domain reweighting with Generalization Estimation (Fan, Pagliardini, Jaggi 2023,
 * "DoGE", Algorithm 1 / Eq. 5–6). A domain is upweighted when its gradient points the
 * same way as the others' (or a target domain's):
 *   score_i = clip(η_t s_i, η_t·dw_min, η_t·dw_max),   s_i = ⟨g_i, Σ_{j≠i} g_j⟩ / mean_j ‖g_j‖
 *   α'      = softmax(log α + score/μ)                 (mirror descent, Bregman step 1/μ)
 *   α       = (1 − ε) α' + ε/K
 *   ᾱ       = mean of α over updates (the weights DoGE hands to the final run)
 *
 * Checked against Olivia-fsm/DoGE src/trainer.py `update_domain_weights_distributed`:
 * the code forms scores_mat = G_train G_tgtᵀ, takes row sums minus the diagonal when the
 * train and target sets coincide (else row sums), multiplies by lr_t, divides by the mean
 * gradient norm (+1e-6), clips to [lr_t·dw_min, lr_t·dw_max], then log-step by score/μ,
 * softmax, smoothing; `avg_dw` accumulates and is divided by the update count. Defaults
 * from the dataclass: μ = 0.05, dw_min = 0, dw_max = 5, reweight_eps = 0 (config/doge.json
 * uses μ = 0.01); when no scheduler exists the code falls back to lr_t = 1e-4 — so does
 * mixload when `lr` is missing (params.default_lr). A domain absent from a step keeps its
 * stale gradient row in the code (flat_grad_mat is not cleared), i.e. its last score:
 * mixload reuses the last s_i.
 *
 * Deviations: the gradient products need the model, so the TRAINER computes
 * s_i (everything up to and including the division by the mean norm) and sends it as
 * `grad_alignment`; mixload applies lr scaling, clip, μ, ε. Like the official code the
 * weights steer sampling here too (the code additionally reweights the gradient).
 * With ε = 0 (the default) the floor is 0; set `eps` to keep every domain sampled.
 */
import { z } from "zod";
import { ConfigError } from "../src/util/errors.js";
import { allFinite, checkFeedback, readName, readNum, readVec, runningMean, smooth, softmax, uniformWeights, vec } from "./common.js";
import { MixerInputError, type DomainInfo, type Mixer, type MixerState, type StepFeedback } from "./types.js";

export const dogeSchema = z
  .object({
    mu: z.number().finite().positive().default(0.05),
    dw_min: z.number().finite().default(0),
    dw_max: z.number().finite().default(5),
    eps: z.number().min(0).max(1).default(0),
    default_lr: z.number().finite().nonnegative().default(1e-4),
  })
  .strict();
export type DogeParams = z.infer<typeof dogeSchema>;

export class DogeMixer implements Mixer {
  readonly name = "doge";
  readonly needsFeedback = true;
  private w: Float64Array;
  private avg: Float64Array;
  private align: Float64Array; // last s_i per domain
  private updates = 0;
  private lastStep = -1;

  constructor(private readonly domains: readonly DomainInfo[], private readonly p: DogeParams) {
    if (p.dw_min > p.dw_max) throw new ConfigError("mixer.params.dw_min", `dw_min ${p.dw_min} > dw_max ${p.dw_max}`);
    const K = domains.length;
    this.w = uniformWeights(K);
    this.avg = uniformWeights(K);
    this.align = new Float64Array(K);
  }

  weights(_step?: number): Float64Array {
    return Float64Array.from(this.w);
  }

  averageWeights(): Float64Array {
    return Float64Array.from(this.avg);
  }

  update(fb: StepFeedback): void {
    const present = checkFeedback(fb, this.domains, this.lastStep);
    const align = Float64Array.from(this.align);
    for (const s of present) {
      if (s.grad_alignment === undefined) throw new MixerInputError(this.domains[s.index].name, "grad_alignment", undefined, "DoGE needs grad_alignment for every domain in the batch");
      align[s.index] = s.grad_alignment;
    }
    const lr = fb.lr ?? this.p.default_lr;
    const logits = Float64Array.from(this.w, (a, i) => {
      const score = Math.min(Math.max(lr * align[i], lr * this.p.dw_min), lr * this.p.dw_max);
      return Math.log(a) + score / this.p.mu;
    });
    const bad = logits.findIndex((x) => Number.isNaN(x) || x === Infinity);
    if (bad >= 0) throw new MixerInputError(this.domains[bad].name, "grad_alignment", align[bad], `lr·score/μ overflows (lr = ${lr}, μ = ${this.p.mu})`);
    const w = smooth(softmax(logits), this.p.eps);
    if (!allFinite(w)) throw new MixerInputError("*", "grad_alignment", vec(align), "update is not finite");
    this.updates += 1;
    this.avg = runningMean(this.avg, w, this.updates);
    this.w = w;
    this.align = align;
    this.lastStep = fb.step;
  }

  state(): MixerState {
    return { name: this.name, weights: vec(this.w), avg_weights: vec(this.avg), alignment: vec(this.align), updates: this.updates, last_step: this.lastStep };
  }

  restore(s: MixerState): void {
    readName(s, this.name);
    const K = this.domains.length;
    const next = { w: readVec(s, "weights", K), avg: readVec(s, "avg_weights", K), align: readVec(s, "alignment", K), updates: readNum(s, "updates"), lastStep: readNum(s, "last_step") };
    Object.assign(this, next);
  }

  describe(): Record<string, unknown> {
    return {
      name: this.name,
      floor: this.p.eps / this.domains.length,
      ...this.p,
      updates: this.updates,
      average_weights: Object.fromEntries(this.domains.map((d, i) => [d.name, this.avg[i]])),
    };
  }
}
