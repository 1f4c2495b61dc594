/**
 * The learners the gym knows, registered by name (learner.ts). A new learner (e.g. the torch
 * tiny GPT) registers itself in its own module and is imported here, so `gym --learner <name>`
 * and `gym.learner.kind` reach it.
 */
import { registerLearner, type GymBatch, type Learner } from "./learner.js";
import { KneserNeyTrigram } from "./ngram.js";
import { ConfigError } from "../util/errors.js";

/** The interpolated Kneser–Ney trigram (ngram.ts) behind the Learner interface; prequential. */
export class NgramLearner implements Learner {
  readonly model: KneserNeyTrigram;

  constructor(vocabSize: number, discount: number) {
    this.model = new KneserNeyTrigram(vocabSize, { discount });
  }

  describe(): Record<string, unknown> {
    return { kind: "interpolated Kneser-Ney trigram", discount: this.model.discount, vocab_size: this.model.vocabSize };
  }

  trainStep(batch: GymBatch, out: Float64Array): Promise<void> {
    this.model.scoreBatch(batch, out);
    this.model.trainBatch(batch);
    return Promise.resolve();
  }

  score(batch: GymBatch, out: Float64Array): Promise<void> {
    this.model.scoreBatch(batch, out);
    return Promise.resolve();
  }

  evaluate(docs: readonly Int32Array[], seqLen: number): Promise<{ lossSum: number; tokens: number }> {
    return Promise.resolve(this.model.evaluate(docs, seqLen));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

registerLearner("ngram", (spec) => {
  const d = spec.params.discount ?? 0.75;
  if (typeof d !== "number" || !(d > 0 && d < 1)) throw new ConfigError("gym.learner.params.discount", `must be a number in (0, 1), got ${JSON.stringify(d)}`);
  return Promise.resolve(new NgramLearner(spec.vocabSize, d));
});

export { createLearner, learnerNames } from "./learner.js";
