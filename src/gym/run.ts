/**
 * `mixload gym`, real mode: every mixer drives its own loader (same config, same seed) for
 * the same number of steps, and its own fresh learner (ngram.ts) learns from exactly the
 * served tokens. Per step: weights → loader.next → per-token prequential losses of the
 * learner and of the frozen reference → StepFeedback (signals.ts) → folded through the same
 * WeightSchedule the service uses (its weights in force `feedback_lag` steps later) → learner
 * trains on the batch.
 * Held-out sets (heldout.ts) are evaluated every `eval_every` steps and after the last; the
 * per-domain held-out mean loss rides along as `eval_loss` in that step's feedback.
 *
 * The DoReMi reference is a learner trained first, for the same number of steps, on the
 * natural mix (doremi issue #21's advice; `gym.reference.mix` can make it uniform), with the
 * seed shifted by `gym.reference.seed_offset` so its document order differs; it is then
 * frozen. Its final held-out losses are the reference every mixer's excess is measured
 * against, and its per-token losses on each mixer's batches give excess_loss_sum/ref_loss_sum.
 */
import { parseConfig } from "../config/load.js";
import { Loader } from "../loader/loader.js";
import { WeightSchedule } from "../schedule/weight-schedule.js";
import { createMixer } from "../../mixers/registry.js";
import { naturalWeights, uniformWeights } from "../../mixers/common.js";
import type { DomainInfo, Mixer } from "../../mixers/contract.js";
import { fitDataLaw } from "../../mixers/fit.js";
import { IGNORE_INDEX } from "../batch/assemble.js";
import { CountMap } from "./count-map.js";
import type { GymConfig } from "./config.js";
import { gymDefaults, type RunShape } from "./defaults.js";
import { tokenizeHeldout, type HeldoutSet } from "./heldout.js";
import { KneserNeyTrigram } from "./ngram.js";
import { compareWithUniform, objectives, perDomain, WeightTracker, type GymReport, type MixerResult } from "./report.js";
import { StepSignals } from "./signals.js";

export interface GymOptions {
  readonly mixers: readonly string[];
  readonly steps?: number;
  /** Tokenizer workers (overrides the config). */
  readonly workers?: number;
  /** Progress lines (stderr in the CLI). */
  readonly log?: (line: string) => void;
}

interface Reference {
  learner: KneserNeyTrigram;
  heldout: Float64Array;
  entropy: Float64Array;
  laws: GymReport["reference"]["laws"];
}

function evaluate(learner: KneserNeyTrigram, held: HeldoutSet, seqLen: number): Float64Array {
  return Float64Array.from(held.docs, (docs) => {
    const { lossSum, tokens } = learner.evaluate(docs, seqLen);
    return lossSum / tokens;
  });
}

export async function runGym(g: GymConfig, options: GymOptions): Promise<GymReport> {
  const log = options.log ?? (() => undefined);
  const { config } = g.loaded;
  const steps = options.steps ?? g.gym.steps;
  const names = config.domains.map((d) => d.name);
  const K = names.length;
  const first = await Loader.open(g.loaded, { workers: options.workers });
  let info: DomainInfo[];
  let held: HeldoutSet;
  const vocab = first.tokenizer.vocabSize;
  try {
    info = await first.domainInfo();
    held = await tokenizeHeldout(g, first.tokenizer);
  } finally {
    await first.close();
  }
  const shape: RunShape = { steps, tokensPerStep: first.rowsPerStep * first.seqLen, evalEvery: g.gym.eval_every, vocabSize: vocab };
  log(`held-out tokens: ${held.tokens.join(", ")}`);

  const t0 = Date.now();
  const ref = await trainReference(g, info, held, steps, options.workers);
  log(
    `reference (${g.gym.reference.mix}): mean held-out ${(ref.heldout.reduce((a, b) => a + b, 0) / K).toFixed(3)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
  const domains: DomainInfo[] = info.map((d, i) => ({ ...d, entropy: ref.entropy[i] }));

  const results: MixerResult[] = [];
  for (const name of options.mixers) {
    const started = Date.now();
    try {
      const params = { ...gymDefaults(name, shape), ...(g.gym.mixers[name] ?? {}) };
      const mixer = createMixer({ name, params }, domains);
      const r = await runMixer(g, mixer, held, ref, steps, shape, options.workers);
      r.wall_seconds = (Date.now() - started) / 1000;
      results.push(r);
      log(`${name}: mean ${r.mean.toFixed(4)}, worst excess ${r.worst_excess.excess.toFixed(4)} (${r.worst_excess.domain}) in ${r.wall_seconds.toFixed(1)} s`);
    } catch (e) {
      const error = (e as Error).message;
      log(`${name}: failed: ${error}`);
      results.push(failed(name, names, error, (Date.now() - started) / 1000));
    }
  }
  compareWithUniform(results);
  return {
    mode: "real",
    config: g.loaded.file ?? null,
    steps,
    tokens_per_step: shape.tokensPerStep,
    feedback_lag: g.gym.feedback_lag,
    eval_every: g.gym.eval_every,
    domains: names,
    learner: { kind: "interpolated Kneser-Ney trigram", discount: g.gym.learner.discount, vocab_size: vocab },
    reference: {
      mix: g.gym.reference.mix,
      heldout: perDomain(names, ref.heldout),
      mean: ref.heldout.reduce((a, b) => a + b, 0) / K,
      entropy: perDomain(names, ref.entropy),
      laws: ref.laws,
    },
    heldout_tokens: perDomain(names, held.tokens),
    mixers: results,
  };
}

export function failed(name: string, names: readonly string[], error: string, wall: number): MixerResult {
  const nan = perDomain(
    names,
    names.map(() => NaN),
  );
  return {
    name,
    params: {},
    heldout: nan,
    mean: NaN,
    worst: { domain: "", loss: NaN },
    worst_excess: { domain: "", excess: NaN },
    weights: { start: nan, end: nan, min: nan, max: nan, mean: nan },
    achieved: nan,
    curve: [],
    vs_uniform: null,
    wall_seconds: wall,
    error,
  };
}

/**
 * The frozen reference. While it trains it also counts each domain's bigrams, for the
 * plug-in conditional entropy H(w | v) BiMix's entropy-proxy start uses, and records its
 * held-out curve against each domain's own served tokens, fitted to L(D) = E + B/D^β (the
 * laws the synthetic mode can be calibrated with).
 */
async function trainReference(g: GymConfig, info: DomainInfo[], held: HeldoutSet, steps: number, workers?: number): Promise<Reference> {
  const raw = { ...g.raw, seed: g.loaded.config.seed + g.gym.reference.seed_offset };
  const loaded = parseConfig(raw, g.loaded.baseDir);
  const loader = await Loader.open(loaded, { workers });
  const K = info.length;
  const weights = g.gym.reference.mix === "natural" ? naturalWeights(info) : uniformWeights(K);
  const learner = new KneserNeyTrigram(loader.tokenizer.vocabSize, { discount: g.gym.learner.discount });
  const S = learner.bos + 1;
  const pairs = new CountMap(1, 16); // (d, v, w)
  const contexts = new CountMap(1, 14); // (d, v)
  const served = new Float64Array(K);
  const curves = info.map(() => ({ d: [] as number[], loss: [] as number[] }));
  let heldout: Float64Array = new Float64Array(K);
  try {
    for (let t = 0; t < steps; t++) {
      const batch = await loader.next(weights);
      if (batch === null) break;
      const { input_ids: x, targets: y, domain_ids: dom } = batch;
      for (let i = 0; i < y.length; i++) {
        if (y[i] === IGNORE_INDEX) continue;
        const d = dom[i];
        served[d] += 1;
        // slot() first: it may grow the map and replace `vals`.
        const p = pairs.slot((d * S + x[i]) * S + y[i]);
        pairs.vals[p] += 1;
        const c = contexts.slot(d * S + x[i]);
        contexts.vals[c] += 1;
      }
      learner.trainBatch(batch);
      if ((t + 1) % g.gym.eval_every === 0 || t === steps - 1) {
        heldout = evaluate(learner, held, loader.seqLen);
        heldout.forEach((l, d) => {
          if (served[d] > 0) {
            curves[d].d.push(served[d]);
            curves[d].loss.push(l);
          }
        });
      }
    }
  } finally {
    await loader.close();
  }
  const entropy = new Float64Array(K);
  pairs.forEach((key, slot) => {
    const d = Math.floor(key / (S * S));
    const c = pairs.vals[slot];
    const ctx = contexts.get(Math.floor(key / S));
    entropy[d] -= (c / served[d]) * Math.log(c / ctx);
  });
  const laws = Object.fromEntries(
    info.map((d, i) => {
      const c = curves[i];
      if (c.d.length < 4) return [d.name, null];
      const f = fitDataLaw(c.d, c.loss);
      return [d.name, { E: f.E, B: f.B, beta: f.beta, rmse: f.rmse }];
    }),
  );
  return { learner, heldout, entropy, laws };
}

async function runMixer(g: GymConfig, mixer: Mixer, held: HeldoutSet, ref: Reference, steps: number, shape: RunShape, workers?: number): Promise<MixerResult> {
  const names = g.loaded.config.domains.map((d) => d.name);
  const K = names.length;
  const loader = await Loader.open(g.loaded, { workers });
  const learner = new KneserNeyTrigram(loader.tokenizer.vocabSize, { discount: g.gym.learner.discount });
  const signals = new StepSignals(K, learner.bos + 1);
  const loss = new Float64Array(shape.tokensPerStep);
  const refLoss = new Float64Array(shape.tokensPerStep);
  const tracker = new WeightTracker(names);
  // The service's schedule: step t's weights come from the feedback of steps ≤ t − lag.
  const schedule = new WeightSchedule(mixer, g.gym.feedback_lag);
  const curve: MixerResult["curve"] = [];
  let heldout = evaluate(learner, held, loader.seqLen);
  try {
    for (let t = 0; t < steps; t++) {
      const w = schedule.weightsFor(t);
      tracker.add(w);
      const batch = await loader.next(w);
      if (batch === null) break;
      learner.scoreBatch(batch, loss);
      ref.learner.scoreBatch(batch, refLoss);
      learner.trainBatch(batch);
      let evalLoss: Float64Array | null = null;
      if ((t + 1) % g.gym.eval_every === 0 || t === steps - 1) {
        heldout = evalLoss = evaluate(learner, held, loader.seqLen);
        const o = objectives(names, heldout, ref.heldout);
        curve.push({ step: t + 1, mean: o.mean, worst_excess: o.worst_excess.excess });
      }
      // Folded at once; its weights are pinned to t + lag, so they still reach the mixer's batches late.
      const fb = signals.build(t, batch, loss, refLoss, g.gym.doge_lr, evalLoss);
      if (mixer.needsFeedback) schedule.fold(fb);
    }
    const o = objectives(names, heldout, ref.heldout);
    return {
      name: mixer.name,
      params: mixer.describe(),
      heldout: perDomain(names, heldout),
      ...o,
      weights: tracker.summary(),
      achieved: loader.stats().achieved,
      curve,
      vs_uniform: null,
      wall_seconds: 0,
    };
  } finally {
    await loader.close();
  }
}
