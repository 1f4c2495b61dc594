/**
 * The mixer contract. A mixer is a deterministic state machine over K domains:
 * built from the domain list and validated params (see registry.ts), fed one
 * aggregated step of feedback at a time, asked for the sampling weights.
 * The service and the loader depend on exactly these types.
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
