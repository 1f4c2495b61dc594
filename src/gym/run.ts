/**
 * `mixload gym`, real mode. The corpus is read and tokenized once (corpus.ts). For every seed
 * the documents are split into train / reference / held-out parts (split.ts); the DoReMi
 * reference learner trains on the reference part under the reference mix and is frozen; then
 * every mixer drives its own loader over the train parts, with its own fresh learner
 * (learner.ts), for the same number of steps. Per step: weights → loader.next → the learner's
 * pre-update per-token losses (trainStep) and the frozen reference's losses on the SAME batch
 * (DoReMi, Xie et al. 2023, Algorithm 1: excess is measured on the proxy's training batch) →
 * StepFeedback (signals.ts) → folded through the service's WeightSchedule (weights in force
 * `feedback_lag` steps later). Held-out parts are evaluated every `eval_every` steps and after
 * the last; their per-domain mean loss rides along as `eval_loss`.
 *
 * Seeds change the split, the data order and the learner's own randomness; the summary
 * (aggregate.ts) gives every metric's interval over seeds and the paired comparison with uniform.
 */
import fs from "node:fs";
import path from "node:path";
import { Loader } from "../loader/loader.js";
import { WeightSchedule } from "../schedule/weight-schedule.js";
import { createMixer } from "../../mixers/registry.js";
import { naturalWeights, uniformWeights } from "../../mixers/common.js";
import type { DomainInfo } from "../../mixers/contract.js";
import { fitDataLaw } from "../../mixers/fit.js";
import { IGNORE_INDEX } from "../batch/assemble.js";
import { summarise } from "./aggregate.js";
import { CountMap } from "./count-map.js";
import type { GymConfig } from "./config.js";
import { tokenCount, tokenizeCorpus } from "./corpus.js";
import { gymDefaults, type RunShape } from "./defaults.js";
import { createLearner, learnerNames } from "./learners.js";
import { ConfigError } from "../util/errors.js";
import type { Learner, LearnerSpec } from "./learner.js";
import { oracleMean, staticLosses } from "./oracle.js";
import { objectives, perDomain, WeightTracker, type GymReport, type MixerResult, type OracleMixture } from "./report.js";
import { StepSignals, targetVector } from "./signals.js";
import { capHeldout, splitForSeed, type SeedSplit } from "./split.js";
import { meanInterval } from "./stats.js";

export interface GymOptions {
  readonly mixers: readonly string[];
  readonly steps?: number;
  /** Number of seeds (overrides gym.seeds). */
  readonly seeds?: number;
  /** Learner name (overrides gym.learner.kind). */
  readonly learner?: string;
  /** Tokenizer workers (overrides the config). */
  readonly workers?: number;
  /** Progress lines (stderr in the CLI). */
  readonly log?: (line: string) => void;
}

interface Reference {
  learner: Learner;
  heldout: Float64Array;
  entropy: Float64Array;
  curves: { d: number[]; loss: number[] }[];
}

/** What one seed's runs share. */
interface SeedContext {
  readonly g: GymConfig;
  readonly split: SeedSplit;
  readonly ref: Reference;
  readonly target: Int32Array[] | null;
  /** DoGE target mode: the target set's normalised bigram vector. */
  readonly targetVec: CountMap | null;
  readonly steps: number;
  readonly shape: RunShape;
  readonly learnerSpec: Omit<LearnerSpec, "role" | "seed">;
  readonly learnerKind: string;
}

async function evaluate(learner: Learner, docsPerDomain: readonly (readonly Int32Array[])[], seqLen: number): Promise<Float64Array> {
  const out = new Float64Array(docsPerDomain.length);
  for (const [d, docs] of docsPerDomain.entries()) {
    const { lossSum, tokens } = await learner.evaluate(docs, seqLen);
    out[d] = lossSum / tokens;
  }
  return out;
}

export async function runGym(g: GymConfig, options: GymOptions): Promise<GymReport> {
  const log = options.log ?? (() => undefined);
  const { config } = g.loaded;
  const steps = options.steps ?? g.gym.steps;
  const nSeeds = options.seeds ?? g.gym.seeds;
  const learnerKind = options.learner ?? g.gym.learner.kind;
  const names = config.domains.map((d) => d.name);
  const K = names.length;
  // Before the corpus is tokenized: a wrong name should not cost the tokenization first.
  if (!learnerNames().includes(learnerKind))
    throw new ConfigError("gym.learner.kind", `unknown learner "${learnerKind}" (known: ${learnerNames().join(", ")})`);
  const started = Date.now();
  const { corpus, vocab, cacheDir } = await tokenizeCorpus(g, options.workers);
  const tokenizeSeconds = (Date.now() - started) / 1000;
  const skipped = corpus.domains.filter((d) => d.skipped > 0).map((d) => `${d.name} ${d.skipped}`);
  log(
    `tokenized ${corpus.domains.reduce((a, d) => a + d.docs.length, 0)} documents once in ${tokenizeSeconds.toFixed(1)} s${skipped.length ? `; skipped bad: ${skipped.join(", ")}` : ""}`,
  );

  const tokensPerStep = config.world * config.batch_size * config.seq_len;
  const shape: RunShape = { steps, tokensPerStep, evalEvery: g.gym.eval_every, vocabSize: vocab };
  const learnerSpec = {
    vocabSize: vocab,
    seqLen: config.seq_len,
    rows: config.world * config.batch_size,
    params: { discount: g.gym.learner.discount, ...g.gym.learner.params },
    baseDir: g.loaded.baseDir,
  };
  const targetVec = g.gym.doge_target && corpus.target ? targetVector(corpus.target.docs, vocab + 1) : null;
  fs.mkdirSync(cacheDir, { recursive: true });
  const runDir = fs.mkdtempSync(path.join(cacheDir, "gym-"));
  const seeds = Array.from({ length: nSeeds }, (_, i) => config.seed + i);
  const runs: MixerResult[][] = options.mixers.map(() => []);
  const refHeld: Float64Array[] = [];
  let first: { split: SeedSplit; ref: Reference } | null = null;
  let learnerInfo: Record<string, unknown> = {};
  try {
    for (const seed of seeds) {
      const split = splitForSeed(g, corpus, seed, path.join(runDir, `seed-${seed}`), vocab);
      const t0 = Date.now();
      const ref = await trainReference(g, split, steps, { ...learnerSpec, seed, role: "reference" }, learnerKind);
      learnerInfo = ref.learner.describe();
      refHeld.push(ref.heldout);
      first ??= { split, ref };
      log(
        `seed ${seed}: reference (${g.gym.reference.mix}) mean held-out ${(ref.heldout.reduce((a, b) => a + b, 0) / K).toFixed(3)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      );
      const target = corpus.target ? capHeldout(corpus.target.docs, config.seq_len, g.gym.heldout_tokens) : null;
      const ctx: SeedContext = { g, split, ref, target, targetVec, steps, shape, learnerSpec, learnerKind };
      const info = await splitInfo(split);
      const domains: DomainInfo[] = info.map((d, i) => ({ ...d, entropy: ref.entropy[i] }));
      try {
        for (const [m, name] of options.mixers.entries()) {
          const r = await runOne(ctx, name, domains, seed);
          runs[m].push(r);
          log(runLine(r));
        }
      } finally {
        await ref.learner.close();
      }
    }
  } finally {
    fs.rmSync(runDir, { recursive: true, force: true });
  }
  const mixers = summarise(runs, names, { dogeTarget: g.gym.doge_target, checks: g.gym.weight_checks });
  const f = first!;
  return {
    mode: "real",
    config: g.loaded.file ?? null,
    steps,
    tokens_per_step: tokensPerStep,
    feedback_lag: g.gym.feedback_lag,
    eval_every: g.gym.eval_every,
    domains: names,
    seeds,
    learner: { name: learnerKind, ...learnerInfo },
    reference: {
      mix: g.gym.reference.mix,
      heldout: Object.fromEntries(names.map((n, i) => [n, meanInterval(refHeld.map((h) => h[i]))])),
      mean: meanInterval(refHeld.map((h) => h.reduce((a, b) => a + b, 0) / K)),
      entropy: perDomain(names, f.ref.entropy),
      laws: fitLaws(names, f.ref.curves),
    },
    split: {
      train: perDomain(names, f.split.counts.train),
      reference: perDomain(names, f.split.counts.reference),
      heldout: perDomain(names, f.split.counts.heldout),
      heldout_tokens: perDomain(
        names,
        f.split.heldout.map((docs) => tokenCount(docs)),
      ),
    },
    oracle: lawOracle(g, names, steps * tokensPerStep),
    tokenize_seconds: tokenizeSeconds,
    wall_seconds: (Date.now() - started) / 1000,
    mixers,
  };
}

/**
 * With a gym.synthetic section (laws fitted on this corpus), the law model's best static mixture
 * for mean loss, drawn under each mixer's real weight trajectory as a guide (oracle.ts); the
 * n-gram learner's own optimum is not computable.
 */
function lawOracle(g: GymConfig, names: readonly string[], total: number): OracleMixture[] | undefined {
  const s = g.gym.synthetic;
  if (!s || names.some((n) => !s.laws[n])) return undefined;
  const laws = names.map((n) => s.laws[n]);
  const w = oracleMean({ laws, tau: s.transfer, offset: s.offset_tokens, total });
  const l = staticLosses({ laws, tau: s.transfer, offset: s.offset_tokens, total }, w);
  return [{ objective: "mean", weights: perDomain(names, w), value: l.reduce((a, b) => a + b, 0) / l.length }];
}

/** Domain names and token counts of the train parts (what mixers are built from). */
async function splitInfo(split: SeedSplit): Promise<DomainInfo[]> {
  const loader = await Loader.open(split.train, { workers: 0 });
  try {
    return await loader.domainInfo();
  } finally {
    await loader.close();
  }
}

async function runOne(ctx: SeedContext, name: string, domains: DomainInfo[], seed: number): Promise<MixerResult> {
  const started = Date.now();
  const names = domains.map((d) => d.name);
  try {
    const params = { ...gymDefaults(name, ctx.shape), ...(ctx.g.gym.mixers[name] ?? {}) };
    const r = await runMixer(ctx, name, params, domains, seed);
    r.wall_seconds = (Date.now() - started) / 1000;
    return r;
  } catch (e) {
    return failed(name, seed, names, (e as Error).message, (Date.now() - started) / 1000);
  }
}

/** A mixer's run of one seed as one progress line. */
export function runLine(r: MixerResult): string {
  return r.error
    ? `seed ${r.seed} ${r.name}: failed: ${r.error}`
    : `seed ${r.seed} ${r.name}: mean ${r.mean.toFixed(4)}, worst excess ${r.worst_excess.excess.toFixed(4)} (${r.worst_excess.domain}) in ${r.wall_seconds.toFixed(1)} s`;
}

export function failed(name: string, seed: number, names: readonly string[], error: string, wall: number): MixerResult {
  const nan = perDomain(
    names,
    names.map(() => NaN),
  );
  return {
    name,
    seed,
    params: {},
    heldout: nan,
    mean: NaN,
    worst: { domain: "", loss: NaN },
    worst_excess: { domain: "", excess: NaN },
    target: null,
    weights: { start: nan, end: nan, min: nan, max: nan, mean: nan },
    achieved: nan,
    curve: [],
    wall_seconds: wall,
    error,
  };
}

/**
 * The frozen reference, trained on the reference part only. While it trains it also counts
 * each domain's bigrams, for the plug-in conditional entropy H(w | v) BiMix's entropy-proxy
 * start uses, and records its held-out curve against each domain's served tokens, fitted to
 * L(D) = E + B/D^β (the laws the synthetic mode can be calibrated with).
 */
async function trainReference(g: GymConfig, split: SeedSplit, steps: number, spec: LearnerSpec, kind: string): Promise<Reference> {
  const loader = await Loader.open(split.reference, { workers: 0 });
  const learner = await createLearner(kind, spec);
  try {
    const info = await loader.domainInfo();
    const K = info.length;
    const weights = g.gym.reference.mix === "natural" ? naturalWeights(info) : uniformWeights(K);
    const S = spec.vocabSize + 1;
    const pairs = new CountMap(1, 16); // (d, v, w)
    const contexts = new CountMap(1, 14); // (d, v)
    const served = new Float64Array(K);
    const curves = info.map(() => ({ d: [] as number[], loss: [] as number[] }));
    const loss = new Float64Array(loader.rowsPerStep * loader.seqLen);
    let heldout: Float64Array = new Float64Array(K);
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
      await learner.trainStep(batch, loss);
      if ((t + 1) % g.gym.eval_every === 0 || t === steps - 1) {
        heldout = await evaluate(learner, split.heldout, loader.seqLen);
        heldout.forEach((l, d) => {
          if (served[d] > 0) {
            curves[d].d.push(served[d]);
            curves[d].loss.push(l);
          }
        });
      }
    }
    const entropy = new Float64Array(K);
    pairs.forEach((key, slot) => {
      const d = Math.floor(key / (S * S));
      const c = pairs.vals[slot];
      const ctx = contexts.get(Math.floor(key / S));
      entropy[d] -= (c / served[d]) * Math.log(c / ctx);
    });
    return { learner, heldout, entropy, curves };
  } catch (e) {
    await learner.close();
    throw e;
  } finally {
    await loader.close();
  }
}

function fitLaws(names: readonly string[], curves: Reference["curves"]): NonNullable<GymReport["reference"]["laws"]> {
  return Object.fromEntries(
    names.map((n, i) => {
      const c = curves[i];
      if (c.d.length < 4) return [n, null];
      const f = fitDataLaw(c.d, c.loss);
      return [n, { E: f.E, B: f.B, beta: f.beta, rmse: f.rmse }];
    }),
  );
}

async function runMixer(ctx: SeedContext, name: string, params: Record<string, unknown>, domains: DomainInfo[], seed: number): Promise<MixerResult> {
  const { g, split, ref, shape } = ctx;
  const names = domains.map((d) => d.name);
  const K = names.length;
  const mixer = createMixer({ name, params }, domains);
  const loader = await Loader.open(split.train, { workers: 0 });
  const learner = await createLearner(ctx.learnerKind, { ...ctx.learnerSpec, seed, role: "proxy" });
  try {
    const signals = new StepSignals(K, ctx.learnerSpec.vocabSize + 1, ctx.targetVec);
    const loss = new Float64Array(shape.tokensPerStep);
    const refLoss = new Float64Array(shape.tokensPerStep);
    const tracker = new WeightTracker(names);
    // The service's schedule: step t's weights come from the feedback of steps ≤ t − lag.
    const schedule = new WeightSchedule(mixer, g.gym.feedback_lag);
    const curve: MixerResult["curve"] = [];
    let heldout = await evaluate(learner, split.heldout, loader.seqLen);
    for (let t = 0; t < ctx.steps; t++) {
      const w = schedule.weightsFor(t);
      tracker.add(w);
      const batch = await loader.next(w);
      if (batch === null) break;
      // The reference scores the batch the proxy trains on (Algorithm 1, step 2), before the proxy's update.
      await ref.learner.score(batch, refLoss);
      const trained = await learner.trainStep(batch, loss);
      let evalLoss: Float64Array | null = null;
      if ((t + 1) % g.gym.eval_every === 0 || t === ctx.steps - 1) {
        heldout = evalLoss = await evaluate(learner, split.heldout, loader.seqLen);
        const o = objectives(names, heldout, ref.heldout);
        curve.push({ step: t + 1, mean: o.mean, worst_excess: o.worst_excess.excess, weights: Array.from(w) });
      }
      // Folded at once; its weights are pinned to t + lag, so they still reach the mixer's batches late.
      const fb = signals.build(t, batch, loss, refLoss, g.gym.doge_lr, evalLoss, trained?.gradAlignment);
      if (mixer.needsFeedback) schedule.fold(fb);
    }
    const target = ctx.target ? await learner.evaluate(ctx.target, loader.seqLen) : null;
    return {
      name,
      seed,
      params: mixer.describe(),
      heldout: perDomain(names, heldout),
      ...objectives(names, heldout, ref.heldout),
      target: target ? target.lossSum / target.tokens : null,
      weights: tracker.summary(),
      achieved: loader.stats().achieved,
      curve,
      wall_seconds: 0,
    };
  } finally {
    await learner.close();
    await loader.close();
  }
}
