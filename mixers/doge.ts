/**
 * `doge`: Domain reweighting with Generalization Estimation (Fan, Pagliardini, Jaggi 2023,
 * "DoGE", Algorithm 1 / Eq. 5–6). A domain is upweighted when its gradient points the
 * same way as the others' (or a target domain's):
 *   score_i = clip(η_t s_i, η_t·dw_min, η_t·dw_max),   s_i = ⟨g_i, Σ_{j≠i} g_j⟩ / mean_j ‖g_j‖
 *   α'      = softmax(log α + score/μ)                 (mirror descent, Bregman step 1/μ)
 *   α       = (1 − ε) α' + ε/K
 *   ᾱ       = mean of α over updates (the weights DoGE hands to the final run)
 * The log-step, softmax and smoothing are common.ts `expGradStep` (shared with DoReMi).
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
import { checkFeedback, expGradStep, runningMean, uniformWeights, vec } from "./common.js";
import { ConfigError, MixerInputError, type DomainInfo, type Mixer, type MixerState, type StepFeedback } from "./contract.js";
import { StateReader } from "./state.js";

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

/** Everything DoGE changes while it runs. state() writes it as JSON under these keys. */
interface DogeState {
  /** α, the sampling weights. */
  weights: Float64Array;
  /** ᾱ, the running mean of α over updates. */
  avg_weights: Float64Array;
  /** s_i, each domain's last alignment score (a domain absent from a step keeps it). */
  alignment: Float64Array;
  updates: number;
  last_step: number;
}

export class DogeMixer implements Mixer {
  readonly name = "doge";
  readonly needsFeedback = true;
  private s: DogeState;

  constructor(
    private readonly domains: readonly DomainInfo[],
    private readonly p: DogeParams,
  ) {
    if (p.dw_min > p.dw_max) throw new ConfigError("mixer.params.dw_min", `dw_min ${p.dw_min} > dw_max ${p.dw_max}`);
    const K = domains.length;
    this.s = { weights: uniformWeights(K), avg_weights: uniformWeights(K), alignment: new Float64Array(K), updates: 0, last_step: -1 };
  }

  weights(_step?: number): Float64Array {
    return Float64Array.from(this.s.weights);
  }

  averageWeights(): Float64Array {
    return Float64Array.from(this.s.avg_weights);
  }

  update(fb: StepFeedback): void {
    const present = checkFeedback(fb, this.domains, this.s.last_step);
    const align = Float64Array.from(this.s.alignment);
    for (const s of present) {
      if (s.grad_alignment === undefined)
        throw new MixerInputError(this.domains[s.index].name, "grad_alignment", undefined, "DoGE needs grad_alignment for every domain in the batch");
      align[s.index] = s.grad_alignment;
    }
    // score_i = clip(η_t s_i, η_t·dw_min, η_t·dw_max); the mirror-descent step is score/μ.
    const lr = fb.lr ?? this.p.default_lr;
    const g = Float64Array.from(align, (a) => Math.min(Math.max(lr * a, lr * this.p.dw_min), lr * this.p.dw_max) / this.p.mu);
    const step = expGradStep(this.s.weights, g, this.p.eps);
    if ("overflow" in step)
      throw new MixerInputError(
        this.domains[step.overflow].name,
        "grad_alignment",
        align[step.overflow],
        `lr·score/μ overflows (lr = ${lr}, μ = ${this.p.mu})`,
      );
    if ("notFinite" in step) throw new MixerInputError("*", "grad_alignment", vec(align), "update is not finite");
    const updates = this.s.updates + 1;
    this.s = { weights: step.weights, avg_weights: runningMean(this.s.avg_weights, step.weights, updates), alignment: align, updates, last_step: fb.step };
  }

  state(): MixerState {
    const s = this.s;
    return {
      name: this.name,
      weights: vec(s.weights),
      avg_weights: vec(s.avg_weights),
      alignment: vec(s.alignment),
      updates: s.updates,
      last_step: s.last_step,
    };
  }

  restore(blob: MixerState): void {
    const r = new StateReader(blob, this.name, this.domains.length);
    this.s = {
      weights: r.vec("weights"),
      avg_weights: r.vec("avg_weights"),
      alignment: r.vec("alignment"),
      updates: r.num("updates"),
      last_step: r.num("last_step"),
    };
  }

  describe(): Record<string, unknown> {
    return {
      name: this.name,
      floor: this.p.eps / this.domains.length,
      ...this.p,
      updates: this.s.updates,
      average_weights: Object.fromEntries(this.domains.map((d, i) => [d.name, this.s.avg_weights[i]])),
    };
  }
}
