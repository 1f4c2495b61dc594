/**
 * `doremi`: online Group DRO on per-domain excess loss (Xie et al. 2023, "DoReMi",
 * Algorithm 1, lines 8–10):
 *   λ_i   = (1/|tokens_i|) Σ_tokens max(ℓ_proxy − ℓ_ref, 0)       per-domain excess loss
 *   α'    = softmax(log α + η λ)                                  exponentiated-gradient ascent
 *   α     = (1 − c) α' + c/K                                      smoothing, floor c/K
 *   ᾱ     = mean of α over updates                                the exported "DoReMi weights"
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
import { ConfigError } from "../src/util/errors.js";
import { allFinite, byName, checkFeedback, readName, readNum, readVec, runningMean, smooth, softmax, uniformWeights, vec } from "./common.js";
import { MixerInputError, type DomainInfo, type Mixer, type MixerState, type StepFeedback } from "./types.js";

export const doremiSchema = z
  .object({
    eta: z.number().finite().positive().default(1),
    c: z.number().min(0).max(1).default(1e-3),
    vocab_size: z.number().int().positive().optional(),
    ref_losses: z.record(z.string(), z.number().finite().nonnegative()).optional(),
  })
  .strict();
export type DoremiParams = z.infer<typeof doremiSchema>;

type Source = "none" | "excess_loss_sum" | "ref_table" | "ref_loss_sum";

export class DoremiMixer implements Mixer {
  readonly name = "doremi";
  readonly needsFeedback = true;
  private readonly ref: Float64Array; // NaN = no table entry
  private w: Float64Array;
  private avg: Float64Array;
  private lambda: Float64Array;
  private updates = 0;
  private lastStep = -1;
  private signals: Source[];

  constructor(private readonly domains: readonly DomainInfo[], private readonly p: DoremiParams) {
    const K = domains.length;
    this.ref = Float64Array.from(domains, (d) => d.refLoss ?? NaN);
    if (p.ref_losses) {
      const t = byName(p.ref_losses, domains, "mixer.params.ref_losses", NaN);
      t.forEach((v, i) => { if (!Number.isNaN(v)) this.ref[i] = v; });
    }
    this.ref.forEach((v, i) => {
      if (!Number.isNaN(v) && !(Number.isFinite(v) && v >= 0)) throw new ConfigError(`domains[${i}].refLoss`, `must be a finite non-negative loss, got ${v}`);
    });
    this.w = uniformWeights(K);
    this.avg = uniformWeights(K);
    this.lambda = new Float64Array(K).fill(p.vocab_size ? Math.log(p.vocab_size) : 0);
    this.signals = new Array<Source>(K).fill("none");
  }

  weights(_step?: number): Float64Array {
    return Float64Array.from(this.w);
  }

  /** ᾱ, the running average the paper exports as the final DoReMi domain weights. */
  averageWeights(): Float64Array {
    return Float64Array.from(this.avg);
  }

  update(fb: StepFeedback): void {
    const present = checkFeedback(fb, this.domains, this.lastStep);
    const lambda = Float64Array.from(this.lambda);
    const signals = [...this.signals];
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
        throw new MixerInputError(this.domains[s.index].name, "excess_loss_sum", undefined, "DoReMi needs excess_loss_sum, ref_loss_sum or a reference loss table entry");
      }
    }
    const logits = Float64Array.from(this.w, (a, i) => Math.log(a) + this.p.eta * lambda[i]);
    const bad = logits.findIndex((x) => Number.isNaN(x) || x === Infinity); // −∞ is fine: a weight that is exactly 0 (c = 0)
    if (bad >= 0) throw new MixerInputError(this.domains[bad].name, "excess_loss", lambda[bad], `η·λ overflows (η = ${this.p.eta})`);
    const w = smooth(softmax(logits), this.p.c);
    if (!allFinite(w)) throw new MixerInputError("*", "excess_loss", vec(lambda), "update is not finite");
    // Commit: everything above was computed into fresh arrays.
    this.updates += 1;
    this.avg = runningMean(this.avg, w, this.updates);
    this.w = w;
    this.lambda = lambda;
    this.signals = signals;
    this.lastStep = fb.step;
  }

  state(): MixerState {
    return { name: this.name, weights: vec(this.w), avg_weights: vec(this.avg), lambda: vec(this.lambda), updates: this.updates, last_step: this.lastStep, signals: [...this.signals] };
  }

  restore(s: MixerState): void {
    readName(s, this.name);
    const K = this.domains.length;
    const w = readVec(s, "weights", K), avg = readVec(s, "avg_weights", K), lambda = readVec(s, "lambda", K);
    const updates = readNum(s, "updates"), lastStep = readNum(s, "last_step");
    const sig = s.signals;
    if (!Array.isArray(sig) || sig.length !== K) throw new ConfigError("mixer.state.signals", `expected ${K} entries`);
    Object.assign(this, { w, avg, lambda, updates, lastStep, signals: sig.map(String) as Source[] });
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
      updates: this.updates,
      average_weights: Object.fromEntries(this.domains.map((d, i) => [d.name, this.avg[i]])),
      signals: Object.fromEntries(this.domains.map((d, i) => [d.name, this.signals[i]])),
    };
  }
}
