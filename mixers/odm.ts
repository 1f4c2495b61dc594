/**
 * `odm`: Online Data Mixing as a multi-armed bandit (Albalak et al. 2023, "Efficient Online
 * Data Mixing For Language Model Pre-Training", Algorithm 1, EXP3 with smoothed rewards).
 * Reward = the domain's training loss (high loss = much left to learn), importance-weighted:
 *   R̂_i ← β R̂_i + (1 − β) · reward_i / π_i            (smoothed estimate, β = 0.5)
 *   ε_t = min(1/K, √(ln K / (K t)))
 *   π_i = (1 − K ε_t) · exp(ε_{t−1} R̂_i) / Σ_j exp(ε_{t−1} R̂_j) + ε_t
 *
 * Why ODM (and ADO) among the "beyond" options: both need nothing but the per-domain
 * training loss the protocol already carries (no reference model, no gradients, no probe
 * rounds), so they run in every mixload setup; ODM is the cheapest online mixer there is
 * (O(K) per step) and ADO adds a per-domain scaling-law view; Aioli and Skill-It need probe
 * rounds or a skills graph that the loader cannot provide on its own.
 *
 * Checked against alon-albalak/online-data-mixing, megatron/data/data_sampling_utils.py
 * `Exp3WeightUpdater.update`: reward = loss / 10; ε from the training iteration as above,
 * starting at 1/K; the weights use the PREVIOUS ε inside the exponent and the new one as
 * the additive exploration term, then are renormalised — all as here. Differences found:
 * the official code keeps a CUMULATIVE estimate (R̂_i += reward/π_i), not the paper's
 * smoothed one; `cumulative: true` reproduces the code, the default follows the paper
 * (β = `smoothing`). The code also updates one arm per (single-domain) batch; mixload's
 * batches mix domains, so every domain present in the step is an observed arm.
 * t = step + 1 (mixload steps count from 0). During `warmup_steps` the estimates are
 * updated but π stays at the initial weights (natural proportions by default, as the
 * paper warms up on the Pile's). Optional floor `eps` (default 0): π ← (1−eps)π + eps/K;
 * EXP3's own ε_t already keeps every π_i ≥ ε_t.
 */
import { z } from "zod";
import { allFinite, checkFeedback, naturalWeights, normalize, smooth, softmax, uniformWeights, vec } from "./common.js";
import { MixerInputError, type DomainInfo, type Mixer, type MixerState, type StepFeedback } from "./contract.js";
import { StateReader } from "./state.js";

export const odmSchema = z
  .object({
    smoothing: z.number().min(0).lt(1).default(0.5),
    cumulative: z.boolean().default(false),
    reward_scale: z.number().finite().positive().default(0.1),
    warmup_steps: z.number().int().nonnegative().default(0),
    initial: z.enum(["natural", "uniform"]).default("natural"),
    eps: z.number().min(0).max(1).default(0),
  })
  .strict();
export type OdmParams = z.infer<typeof odmSchema>;

/** Everything ODM changes while it runs. state() writes it as JSON under these keys. */
interface OdmState {
  /** π, the sampling weights. */
  weights: Float64Array;
  /** R̂, the smoothed (or cumulative) importance-weighted reward per domain. */
  reward: Float64Array;
  /** ε_t of the last update (the next update's exponent uses it). */
  explore: number;
  last_step: number;
}

export class OdmMixer implements Mixer {
  readonly name = "odm";
  readonly needsFeedback = true;
  private readonly K: number;
  private s: OdmState;

  constructor(
    private readonly domains: readonly DomainInfo[],
    private readonly p: OdmParams,
  ) {
    const K = (this.K = domains.length);
    this.s = {
      weights: smooth(p.initial === "natural" ? naturalWeights(domains) : uniformWeights(K), p.eps),
      reward: new Float64Array(K),
      explore: 1 / K,
      last_step: -1,
    };
  }

  weights(_step?: number): Float64Array {
    return Float64Array.from(this.s.weights);
  }

  update(fb: StepFeedback): void {
    const present = checkFeedback(fb, this.domains, this.s.last_step);
    const K = this.K,
      beta = this.p.smoothing,
      pi = this.s.weights;
    // R̂_i ← β R̂_i + (1 − β)·reward_i/π_i   (the official code: R̂_i += reward_i/π_i)
    const reward = Float64Array.from(this.s.reward);
    for (const s of present) {
      const est = (this.p.reward_scale * s.loss) / pi[s.index];
      reward[s.index] = this.p.cumulative ? reward[s.index] + est : beta * reward[s.index] + (1 - beta) * est;
    }
    if (!allFinite(reward)) throw new MixerInputError("*", "loss_sum", vec(reward), "reward estimate overflows");
    // ε_t = min(1/K, √(ln K / (K t))); π_i = (1 − K ε_t)·softmax(ε_{t−1} R̂)_i + ε_t
    const prev = this.s.explore;
    const t = fb.step + 1;
    const explore = K > 1 ? Math.min(1 / K, Math.sqrt(Math.log(K) / (K * t))) : 0;
    let weights = pi;
    if (fb.step >= this.p.warmup_steps) {
      const soft = softmax(Float64Array.from(reward, (r) => prev * r));
      weights = smooth(normalize(Float64Array.from(soft, (x) => (1 - K * explore) * x + explore)), this.p.eps);
      if (!allFinite(weights)) throw new MixerInputError("*", "loss_sum", vec(reward), "EXP3 update is not finite");
    }
    this.s = { weights, reward, explore, last_step: fb.step };
  }

  state(): MixerState {
    const s = this.s;
    return { name: this.name, weights: vec(s.weights), reward: vec(s.reward), explore: s.explore, last_step: s.last_step };
  }

  restore(blob: MixerState): void {
    const r = new StateReader(blob, this.name, this.K);
    this.s = { weights: r.vec("weights"), reward: r.vec("reward"), explore: r.num("explore"), last_step: r.num("last_step") };
  }

  describe(): Record<string, unknown> {
    return {
      name: this.name,
      floor: this.p.eps / this.K,
      ...this.p,
      exploration: this.s.explore,
      reward_estimates: Object.fromEntries(this.domains.map((d, i) => [d.name, this.s.reward[i]])),
    };
  }
}
