/**
 * `static`: fixed blends and phase schedules, plus the base class of the other
 * feedback-free presets (uniform.ts, natural.ts, temperature.ts).
 *
 * Phases follow the two-phase blends of the DATA4LLM tutorial (phase 1 web-heavy and
 * diverse, phase 2 upweights math/code): `phases: [{until_step | until_tokens, weights}]`,
 * phase i covering [until_{i−1}, until_i) and the last phase running forever.
 * With `interpolate: true` the phase weights are knots at each phase's first step and
 * the mixture moves linearly from one knot to the next across the phase
 * (w(s) = (1 − u)·W_i + u·W_{i+1}, u = (s − start_i)/(start_{i+1} − start_i)), so
 * a schedule has no jump. `until_tokens` needs `tokens_per_step` (global batch tokens)
 * and is converted to the first step whose start has reached that many tokens.
 *
 * Domains missing from a weights map get weight 0 (excluded); the floor is the
 * smallest weight anywhere in the schedule. weights(step) is a pure function of step.
 */
import { z } from "zod";
import { byName, checkFeedback, normalize } from "./common.js";
import { ConfigError, type DomainInfo, type Mixer, type MixerState, type StepFeedback } from "./contract.js";
import { StateReader } from "./state.js";

/** Shared by every mixer whose weights never depend on feedback. */
export abstract class FixedMixer implements Mixer {
  readonly needsFeedback = false;
  private lastStep = -1;
  abstract readonly name: string;
  constructor(protected readonly domains: readonly DomainInfo[]) {}
  abstract weights(step: number): Float64Array;
  abstract describe(): Record<string, unknown>;
  /** Feedback is still validated (the service must reject bad input the same way for every mixer) and otherwise ignored. */
  update(fb: StepFeedback): void {
    checkFeedback(fb, this.domains, this.lastStep);
    this.lastStep = fb.step;
  }
  state(): MixerState {
    return { name: this.name, last_step: this.lastStep };
  }
  /** The only state is the last folded step (weights are a pure function of the step). */
  restore(blob: MixerState): void {
    this.lastStep = new StateReader(blob, this.name, this.domains.length).num("last_step");
  }
}

const weightMap = z.record(z.string(), z.number().finite().nonnegative());

export const staticSchema = z
  .object({
    weights: weightMap.optional(),
    phases: z
      .array(
        z
          .object({
            until_step: z.number().int().positive().optional(),
            until_tokens: z.number().positive().optional(),
            weights: weightMap,
          })
          .strict(),
      )
      .min(1)
      .optional(),
    interpolate: z.boolean().default(false),
    tokens_per_step: z.number().int().positive().optional(),
  })
  .strict();
export type StaticParams = z.infer<typeof staticSchema>;

interface Phase {
  start: number;
  w: Float64Array;
}

export class StaticMixer extends FixedMixer {
  readonly name = "static";
  private readonly phases: Phase[];

  constructor(
    domains: readonly DomainInfo[],
    private readonly p: StaticParams,
  ) {
    super(domains);
    if ((p.weights === undefined) === (p.phases === undefined)) throw new ConfigError("mixer.params.weights", "give exactly one of `weights` or `phases`");
    const raw = p.phases ?? [{ weights: p.weights ?? {} }];
    this.phases = [];
    let start = 0;
    raw.forEach((ph, i) => {
      const at = `mixer.params.phases[${i}]`;
      const w = byName(ph.weights, domains, p.phases ? `${at}.weights` : "mixer.params.weights", 0);
      if (!(w.reduce((a, b) => a + b, 0) > 0)) throw new ConfigError(p.phases ? `${at}.weights` : "mixer.params.weights", "weights must not all be 0");
      this.phases.push({ start, w: normalize(w) });
      const until = boundary(ph, p.tokens_per_step, at);
      if (until === undefined) {
        if (i < raw.length - 1) throw new ConfigError(`${at}.until_step`, "every phase but the last needs until_step or until_tokens");
        return;
      }
      if (until <= start) throw new ConfigError(`${at}.until_step`, `phase ends at ${until}, not after its start ${start}`);
      start = until;
    });
  }

  weights(step: number): Float64Array {
    const ph = this.phases;
    let i = 0;
    while (i + 1 < ph.length && step >= ph[i + 1].start) i++;
    if (!this.p.interpolate || i + 1 >= ph.length) return Float64Array.from(ph[i].w);
    const u = (step - ph[i].start) / (ph[i + 1].start - ph[i].start);
    return Float64Array.from(ph[i].w, (a, k) => (1 - u) * a + u * ph[i + 1].w[k]);
  }

  describe(): Record<string, unknown> {
    const floor = Math.min(...this.phases.map((ph) => Math.min(...ph.w)));
    return {
      name: this.name,
      floor,
      interpolate: this.p.interpolate,
      phases: this.phases.map((ph) => ({ start_step: ph.start, weights: Object.fromEntries(this.domains.map((d, k) => [d.name, ph.w[k]])) })),
    };
  }
}

function boundary(ph: { until_step?: number; until_tokens?: number }, tokensPerStep: number | undefined, at: string): number | undefined {
  if (ph.until_step !== undefined && ph.until_tokens !== undefined) throw new ConfigError(`${at}.until_tokens`, "give until_step or until_tokens, not both");
  if (ph.until_tokens === undefined) return ph.until_step;
  if (tokensPerStep === undefined) throw new ConfigError("mixer.params.tokens_per_step", "until_tokens needs tokens_per_step (global batch tokens per step)");
  return Math.ceil(ph.until_tokens / tokensPerStep);
}
