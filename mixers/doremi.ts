/**
 * `doremi`: online Group DRO on per-domain excess loss (Xie et al. 2023, "DoReMi",
 * Algorithm 1, lines 8–10):
 *   (a) λ_i = (1/|tokens_i|) Σ_tokens max(ℓ_proxy − ℓ_ref, 0)     per-domain excess loss
 *   (b) α'  = softmax(log α + η λ)                                exponentiated-gradient ascent
 *   (c) α   = (1 − c) α' + c/K                                    renormalise and smooth, floor c/K
 *   (d) ᾱ   = mean of α over updates                              the returned "DoReMi weights"
 * (b)–(c) are common.ts `expGradStep`, the step DoGE and Velocitune take too.
 *
 * Checked against sangmichaelxie/doremi, doremi/trainer.py `update_domain_weights`
 * (doremiv1) and `write_weights`: same order (clip per token, mean, log-space step,
 * softmax, smoothing), domains absent from the step keep their previous score
 * (`self.model.perdomain_scores[domain_id]`), initial scores are log |V|
 * (models.py: `torch.ones(K) * np.log(len(tokenizer))`), and `avg_domain_weights` is a
 * running mean over updates. Defaults: η = 1 and c = 1e-3 as in the paper; note the
 * repo's training_args default `reweight_eps` is 1e-4.
 *
 * Where mixload deviates:
 * - Official code reweights the proxy model's LOSS by α; mixload steers the SAMPLER
 *   with α (online DoReMi, as DoGE's and Mixtera's reimplementations do). The
 *   weights then also decide which domains appear in the batch, so use a small η
 *   (doremi issues #5/#21: near one-hot weights with a large η or missing domains;
 *   the advice there is η ≈ 0.1 and a reference trained on natural proportions).
 * - Signal sources, in order: `excess_loss_sum` (exact, per-token clip, computed by the
 *   trainer); else a reference table (params.ref_losses, else DomainInfo.refLoss) with
 *   λ_i = max(ℓ_i − ref_i, 0) — a coarser per-domain clip; else `ref_loss_sum` with
 *   λ_i = max((loss_sum − ref_loss_sum)/tokens, 0), equally coarse. Which one each domain
 *   used last is reported in `signals`.
 * - Without params.vocab_size the initial score is 0 (unseen domains do not move).
 */
import { z } from "zod";
import { byName, checkFeedback, expGradStep, runningMean, uniformWeights, vec } from "./common.js";
import { ConfigError, MixerInputError, type DomainInfo, type Mixer, type MixerState, type StepFeedback } from "./contract.js";
import { StateReader } from "./state.js";

export const doremiSchema = z
  .object({
    eta: z.number().finite().positive().default(1),
    c: z.number().min(0).max(1).default(1e-3),
    vocab_size: z.number().int().positive().optional(),
    ref_losses: z.record(z.string(), z.number().finite().nonnegative()).optional(),
  })
  .strict();
export type DoremiParams = z.infer<typeof doremiSchema>;

/** Where a domain's λ came from last (reported in describe().signals). */
const SOURCES = ["none", "excess_loss_sum", "ref_table", "ref_loss_sum"] as const;
type Source = (typeof SOURCES)[number];

/** Everything DoReMi changes while it runs. state() writes it as JSON under these keys. */
interface DoremiState {
  /** α, the sampling weights. */
  weights: Float64Array;
  /** ᾱ, the running mean of α over updates. */
  avg_weights: Float64Array;
  /** λ, each domain's last excess loss (a domain absent from a step keeps its λ). */
  lambda: Float64Array;
  updates: number;
  last_step: number;
  signals: Source[];
}

export class DoremiMixer implements Mixer {
  readonly name = "doremi";
  readonly needsFeedback = true;
  private readonly ref: Float64Array; // NaN = no table entry
  private s: DoremiState;

  constructor(
    private readonly domains: readonly DomainInfo[],
    private readonly p: DoremiParams,
  ) {
    const K = domains.length;
    this.ref = Float64Array.from(domains, (d) => d.refLoss ?? NaN);
    if (p.ref_losses) {
      const t = byName(p.ref_losses, domains, "mixer.params.ref_losses", NaN);
      t.forEach((v, i) => {
        if (!Number.isNaN(v)) this.ref[i] = v;
      });
    }
    this.ref.forEach((v, i) => {
      if (!Number.isNaN(v) && !(Number.isFinite(v) && v >= 0)) throw new ConfigError(`domains[${i}].refLoss`, `must be a finite non-negative loss, got ${v}`);
    });
    this.s = {
      weights: uniformWeights(K),
      avg_weights: uniformWeights(K),
      lambda: new Float64Array(K).fill(p.vocab_size ? Math.log(p.vocab_size) : 0), // models.py: log |V|
      updates: 0,
      last_step: -1,
      signals: new Array<Source>(K).fill("none"),
    };
  }

  weights(_step?: number): Float64Array {
    return Float64Array.from(this.s.weights);
  }

  /** ᾱ, the running average the paper exports as the final DoReMi domain weights. */
  averageWeights(): Float64Array {
    return Float64Array.from(this.s.avg_weights);
  }

  update(fb: StepFeedback): void {
    const present = checkFeedback(fb, this.domains, this.s.last_step);
    // (a) λ_i for every domain in the step, from the best signal it has.
    const lambda = Float64Array.from(this.s.lambda);
    const signals = [...this.s.signals];
    for (const s of present) {
      if (s.excess_loss_sum !== undefined) {
        lambda[s.index] = s.excess_loss_sum / s.tokens;
        signals[s.index] = "excess_loss_sum";
      } else if (!Number.isNaN(this.ref[s.index])) {
        lambda[s.index] = Math.max(s.loss - this.ref[s.index], 0);
        signals[s.index] = "ref_table";
      } else if (s.ref_loss_sum !== undefined) {
        lambda[s.index] = Math.max((s.loss_sum - s.ref_loss_sum) / s.tokens, 0);
        signals[s.index] = "ref_loss_sum";
      } else {
        throw new MixerInputError(
          this.domains[s.index].name,
          "excess_loss_sum",
          undefined,
          "DoReMi needs excess_loss_sum, ref_loss_sum or a reference loss table entry",
        );
      }
    }
    // (b)–(c) α ← (1 − c)·softmax(log α + η λ) + c/K.
    const step = expGradStep(
      this.s.weights,
      Float64Array.from(lambda, (l) => this.p.eta * l),
      this.p.c,
    );
    if ("overflow" in step)
      throw new MixerInputError(this.domains[step.overflow].name, "excess_loss", lambda[step.overflow], `η·λ overflows (η = ${this.p.eta})`);
    if ("notFinite" in step) throw new MixerInputError("*", "excess_loss", vec(lambda), "update is not finite");
    // (d) ᾱ; then commit the whole state at once (everything above went into fresh arrays).
    const updates = this.s.updates + 1;
    this.s = { weights: step.weights, avg_weights: runningMean(this.s.avg_weights, step.weights, updates), lambda, updates, last_step: fb.step, signals };
  }

  state(): MixerState {
    const s = this.s;
    return {
      name: this.name,
      weights: vec(s.weights),
      avg_weights: vec(s.avg_weights),
      lambda: vec(s.lambda),
      updates: s.updates,
      last_step: s.last_step,
      signals: [...s.signals],
    };
  }

  restore(blob: MixerState): void {
    const r = new StateReader(blob, this.name, this.domains.length);
    this.s = {
      weights: r.vec("weights"),
      avg_weights: r.vec("avg_weights"),
      lambda: r.vec("lambda"),
      updates: r.num("updates"),
      last_step: r.num("last_step"),
      signals: r.labels("signals", SOURCES),
    };
  }

  describe(): Record<string, unknown> {
    const K = this.domains.length;
    return {
      name: this.name,
      floor: this.p.c / K,
      eta: this.p.eta,
      c: this.p.c,
      initial_lambda: this.p.vocab_size ? Math.log(this.p.vocab_size) : 0,
      ref_losses: Object.fromEntries(this.domains.flatMap((d, i) => (Number.isNaN(this.ref[i]) ? [] : [[d.name, this.ref[i]]]))),
      updates: this.s.updates,
      average_weights: Object.fromEntries(this.domains.map((d, i) => [d.name, this.s.avg_weights[i]])),
      signals: Object.fromEntries(this.domains.map((d, i) => [d.name, this.s.signals[i]])),
    };
  }
}
