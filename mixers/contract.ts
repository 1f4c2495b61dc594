/**
 * The mixer contract: the one module both sides of the mixer boundary depend on.
 *
 * A mixer is a deterministic state machine over K domains: built from the domain list and
 * validated params (registry.ts), fed one aggregated step of feedback at a time, asked for
 * the sampling weights. Everything a caller needs to drive one is here — the types and the
 * two errors a mixer throws — and this file imports nothing.
 *
 * Layering: `src/` (service, gym, replay, CLI) depends on `mixers/`, never the reverse.
 * Mixers are the pure, deterministic core (numbers in, weights out; zod and mathjs only);
 * the service, transport and loader are the machinery around them. So the arrow points
 * from the machinery to the math, and a mixer can be built, tested, benchmarked or replayed
 * without any of `src/`. The loader takes plain weights (`Loader.next(weights:
 * ArrayLike<number>)`); it names DomainInfo only as the type of `domainInfo()`, the
 * `{name, tokens}` list mixers are built from, which a plain type there could replace.
 *
 * ConfigError lives here rather than in src/util/errors.ts because mixers throw it (bad
 * params, bad resume state) and the CLI must recognise it as a user mistake (one line, no
 * stack trace). src/util/errors.ts re-exports it, so there is one class and `instanceof`
 * holds on both sides.
 */

export interface DomainInfo {
  name: string;
  /** Total tokens in the domain (or an estimate). Drives `natural`, `temperature`, ADO's prior. */
  tokens: number;
  /** Per-token loss of a reference model on this domain (DoReMi table mode). */
  refLoss?: number;
  /** Conditional (bigram) token entropy in nats (BiMix entropy-proxy start). */
  entropy?: number;
}

/** One domain's signals for one step, summed over all ranks (PROTOCOL.md `feedback`). */
export interface DomainFeedback {
  /** Σ per-token training loss (nats) over `tokens` target positions. */
  loss_sum: number;
  /** Number of target positions; a non-negative integer. 0 means "no signal" (treated as absent). */
  tokens: number;
  /** Σ max(loss − ref_loss, 0) per token (DoReMi). */
  excess_loss_sum?: number;
  /** Σ reference-model loss over the same tokens. */
  ref_loss_sum?: number;
  /**
   * DoGE alignment ⟨g_i, Σ_{j≠i} g_j⟩ / mean_j ‖g_j‖. Not additive, so the aggregator
   * AVERAGES it over the ranks that reported the domain (each rank's value is already
   * a normalised score); every other field is summed.
   */
  grad_alignment?: number;
  /** Held-out mean loss per token (not a sum), when the trainer evaluated this step. */
  eval_loss?: number;
}

/** One step of feedback aggregated over all ranks. */
export interface StepFeedback {
  /** Training step the feedback belongs to; strictly increasing from one update to the next. */
  step: number;
  /** Domain index → signals. Absent = domain not in the batch (mixers reuse its last value). */
  domains: ReadonlyMap<number, DomainFeedback>;
  /** Current learning rate (DoGE scales its scores by it). */
  lr?: number;
}

/** Plain JSON-serialisable resume state. Numbers stay numbers, so float64 values round-trip exactly. */
export type MixerState = Record<string, unknown>;

export interface Mixer {
  readonly name: string;
  /** false for static/uniform/natural/temperature/phases: the service never waits for feedback. */
  readonly needsFeedback: boolean;
  /** Weights (on the simplex, length K) for batch `step`. Static schedules: a pure function of step; dynamic mixers: the current weights. */
  weights(step: number): Float64Array;
  /** Fold one aggregated step in. Throws MixerInputError on bad input, leaving the state untouched. */
  update(feedback: StepFeedback): void;
  state(): MixerState;
  restore(state: MixerState): void;
  /** Hyperparameters (and, for fitted mixers, the fit report). Always contains `name` and `floor`. */
  describe(): Record<string, unknown>;
}

/**
 * A configuration value is invalid. `path` is the dotted field path, e.g. `mixer.params.eta`,
 * `domains[2].sources[0].path`, or `mixer.state.weights` for a resume state that does not fit.
 */
export class ConfigError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`config ${path}: ${message}`);
    this.name = "ConfigError";
  }
}

/** Feedback the mixer cannot use. The service answers `invalid_feedback`; the mixer state is unchanged. */
export class MixerInputError extends Error {
  constructor(
    readonly domain: string,
    readonly field: string,
    readonly value: unknown,
    detail = "must be a finite non-negative number",
  ) {
    super(`feedback domain ${domain}: ${field} = ${String(value)}: ${detail}`);
    this.name = "MixerInputError";
  }
}
