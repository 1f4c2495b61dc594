/**
 * The demo's built-in trainer: the gym's online Kneser–Ney trigram learner (src/gym/ngram.ts)
 * as a PROTOCOL v1 client. Per step it fetches its batch, scores every target position with
 * the learner as it was before the step (prequential loss, "loss, then optimizer step") and
 * with a frozen reference learner, sends per-domain loss_sum / tokens / excess_loss_sum /
 * ref_loss_sum back, then trains on the batch — what a real trainer does, on a model that
 * learns in milliseconds.
 *
 * The reference is trained first on the natural mix (DoReMi's advice, doremi issue #21) with
 * a shifted seed, so its documents differ from the run's.
 */
import { IGNORE_INDEX } from "../batch/assemble.js";
import { parseConfig, type LoadedConfig } from "../config/load.js";
import { Loader } from "../loader/loader.js";
import { naturalWeights } from "../../mixers/common.js";
import { KneserNeyTrigram } from "../gym/ngram.js";
import { MixloadClient, type ClientBatch } from "../client/client.js";
import type { DomainMap } from "../protocol/types.js";

/** Train a reference learner for `steps` steps of the natural mix (seed + 1). */
export async function trainReference(
  loaded: LoadedConfig,
  steps: number,
  options: { workers?: number; onStep?: (s: number) => void } = {},
): Promise<KneserNeyTrigram> {
  const raw = structuredClone(loaded.config) as Record<string, unknown>;
  raw.seed = loaded.config.seed + 1;
  const shifted = parseConfig(raw, loaded.baseDir);
  const loader = await Loader.open(shifted, { workers: options.workers });
  try {
    const weights = naturalWeights(await loader.domainInfo());
    const learner = new KneserNeyTrigram(loader.tokenizer.vocabSize);
    for (let s = 0; s < steps; s++) {
      const batch = await loader.next(weights);
      if (batch === null) break;
      learner.trainBatch(batch);
      options.onStep?.(s);
    }
    return learner;
  } finally {
    await loader.close();
  }
}

export interface StepReport {
  step: number;
  tokens: number;
  /** Mean prequential loss over the step's tokens (nats). */
  loss: number;
  /** Per domain: [loss_sum, tokens]. */
  domains: DomainMap<[number, number]>;
  weights: DomainMap<number>;
}

export interface TrainOptions {
  endpoint: string;
  steps: number;
  reference: KneserNeyTrigram;
  rank?: number;
  world?: number;
  onStep?: (r: StepReport) => void;
}

/** Run the trainer loop against a service; returns the per-step reports. */
export async function trainAgainst(options: TrainOptions): Promise<StepReport[]> {
  const rank = options.rank ?? 0;
  const world = options.world ?? 1;
  const client = new MixloadClient({ endpoint: options.endpoint, timeoutMs: 60_000 });
  try {
    const hello = await client.hello(rank, world);
    const domains = hello.domains;
    const learner = new KneserNeyTrigram(hello.vocab_size);
    const out: StepReport[] = [];
    let loss = new Float64Array(0);
    let ref = new Float64Array(0);
    for (let step = hello.next_step; step < hello.next_step + options.steps; step++) {
      const b: ClientBatch = await client.batch(step, rank);
      if (loss.length !== b.targets.length) {
        loss = new Float64Array(b.targets.length);
        ref = new Float64Array(b.targets.length);
      }
      learner.scoreBatch(b, loss);
      options.reference.scoreBatch(b, ref);
      const K = domains.length;
      const lossSum = new Float64Array(K),
        tokens = new Float64Array(K),
        excess = new Float64Array(K),
        refSum = new Float64Array(K);
      for (let t = 0; t < b.targets.length; t++) {
        if (b.targets[t] === IGNORE_INDEX) continue;
        const d = b.domain_ids[t];
        tokens[d] += 1;
        lossSum[d] += loss[t];
        refSum[d] += ref[t];
        if (loss[t] > ref[t]) excess[d] += loss[t] - ref[t];
      }
      const dm: DomainMap<{ loss_sum: number; tokens: number }> = {};
      const ex: DomainMap<number> = {};
      const rf: DomainMap<number> = {};
      const rep: DomainMap<[number, number]> = {};
      let total = 0,
        totalLoss = 0;
      domains.forEach((name, d) => {
        if (tokens[d] === 0) return;
        dm[name] = { loss_sum: lossSum[d], tokens: tokens[d] };
        ex[name] = excess[d];
        rf[name] = refSum[d];
        rep[name] = [lossSum[d], tokens[d]];
        total += tokens[d];
        totalLoss += lossSum[d];
      });
      await client.feedback({ step, rank, domains: dm, excess_loss_sum: ex, ref_loss_sum: rf });
      learner.trainBatch(b);
      const r: StepReport = { step, tokens: total, loss: total > 0 ? totalLoss / total : NaN, domains: rep, weights: b.weights };
      out.push(r);
      options.onStep?.(r);
    }
    return out;
  } finally {
    client.close();
  }
}
