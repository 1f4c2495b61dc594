/**
 * What the gym needs from a learner (the model standing in for the trainer), so the n-gram
 * learner and a neural one (`gym --learner torch`) plug into the same run loop:
 *
 *   - `trainStep(batch, out)`: one optimiser step on the batch. Writes the per-position loss of
 *     the model BEFORE the update into `out` (NaN where the target is IGNORE_INDEX): the loss a
 *     trainer reports for the step it is training on (prequential for the n-gram learner,
 *     "forward, then backward and step" for a network). May return per-domain gradient
 *     alignment (DoGE, Fan et al. 2024, eq. 5: ⟨∇ℓ_i, Σ_{j≠i} ∇ℓ_j⟩); a learner without
 *     gradients returns nothing and the gym uses its count surrogate (signals.ts).
 *   - `score(batch, out)`: per-position loss, no update (the frozen DoReMi reference scoring the
 *     proxy's training batch, Xie et al. 2023, Algorithm 1 step 2).
 *   - `evaluate(docs, seqLen)`: summed loss and token count over held-out documents, cut into
 *     segments of at most seqLen tokens exactly as training rows are (the first token of a
 *     segment is context only).
 *
 * A learner is created per (mixer, seed) and once per seed for the reference, by the factory
 * registered under its name; `seed` is the repetition's seed, so a learner with randomness
 * (initialisation, dropout) varies with it and an n-gram learner ignores it.
 */
import type { Batch } from "../batch/assemble.js";
import { ConfigError } from "../util/errors.js";

/** The arrays of a step a learner reads (a loader `Batch` satisfies it). */
export type GymBatch = Pick<Batch, "input_ids" | "targets" | "position_ids" | "domain_ids" | "rows" | "seqLen">;

export interface TrainResult {
  /** Per training domain (config order): gradient alignment s_i, or absent to use the count surrogate. */
  readonly gradAlignment?: Float64Array;
}

export interface Learner {
  /** Short description for the report, e.g. { kind: "interpolated Kneser-Ney trigram", discount: 0.75 }. */
  describe(): Record<string, unknown>;
  trainStep(batch: GymBatch, out: Float64Array): Promise<TrainResult | void>;
  score(batch: GymBatch, out: Float64Array): Promise<void>;
  evaluate(docs: readonly Int32Array[], seqLen: number): Promise<{ lossSum: number; tokens: number }>;
  /** Release processes or memory (a torch learner's child process). */
  close(): Promise<void>;
}

export interface LearnerSpec {
  readonly vocabSize: number;
  readonly seqLen: number;
  /** Rows per step (the learner may size its buffers by it). */
  readonly rows: number;
  /** The repetition's seed. */
  readonly seed: number;
  /** "proxy" learners are trained by a mixer's batches; the "reference" is trained, then frozen. */
  readonly role: "proxy" | "reference";
  /** gym.learner.params (learner-specific, validated by the factory). */
  readonly params: Record<string, unknown>;
  /** Resolves relative paths in params (the config file's directory). */
  readonly baseDir: string;
}

export type LearnerFactory = (spec: LearnerSpec) => Promise<Learner>;

const factories = new Map<string, LearnerFactory>();

/** Register a learner under a name (`gym.learner.kind`, `gym --learner`). */
export function registerLearner(name: string, factory: LearnerFactory): void {
  factories.set(name, factory);
}

export function learnerNames(): string[] {
  return [...factories.keys()];
}

export async function createLearner(name: string, spec: LearnerSpec): Promise<Learner> {
  const f = factories.get(name);
  if (!f) throw new ConfigError("gym.learner.kind", `unknown learner "${name}" (known: ${learnerNames().join(", ")})`);
  return f(spec);
}
