/**
 * `mixload gym --synthetic`: no loader, no learner — per-domain losses follow scaling laws
 * with cross-domain transfer, so a comparison of every mixer takes milliseconds.
 *
 *   D_i(t)     tokens of domain i served before step t (+ offset_tokens D₀)
 *   D_eff,i    = D_i + τ Σ_{j≠i} D_j                   (transfer matrix T = (1 − τ) I + τ 11ᵀ)
 *   L_i        = E_i + B_i / D_eff,i^{β_i}             (gym.synthetic.laws, e.g. fitted on a real run)
 *
 * A step with weights w serves n_i = w_i·T tokens (largest-remainder rounding, Σ n_i = T).
 * Feedback, built from the laws the way a trainer would measure them:
 *   loss_sum_i        = n_i · L_i(t) · (1 + σ ε)      prequential: before the step's tokens count
 *   ref_loss_sum_i    = n_i · L_i^ref(t)              the same law under the reference mix at step t
 *   excess_loss_sum_i = n_i · max(L_i − L_i^ref, 0)   (a per-domain clip: there are no tokens)
 *   grad_alignment_i  = ⟨G_i, Σ_{j≠i} G_j⟩ / mean_j ‖G_j‖, with G_i = g_i · T_i· the gradient of
 *                       L_i in the space of effective data and g_i = β_i B_i D_eff,i^{−β_i−1}
 *   eval_loss_i       = L_i after the step, noiseless, every eval_every steps
 * ε ~ N(0, 1) comes from a generator seeded with the repetition's seed, restarted for every mixer,
 * so on one seed every mixer sees the same noise sequence (paired comparisons). Final
 * "held-out" loss = noiseless L_i at the end. oracle.ts gives the best static mixture for each
 * objective exactly; each mixer's regret against it and against uniform is reported.
 */
import { WeightSchedule } from "../schedule/weight-schedule.js";
import { createMixer } from "../../mixers/registry.js";
import { naturalWeights, uniformWeights } from "../../mixers/common.js";
import type { DomainFeedback, DomainInfo } from "../../mixers/contract.js";
import { ConfigError } from "../util/errors.js";
import { mulberry32 } from "../util/hash.js";
import type { GymConfig, SyntheticSection } from "./config.js";
import { gymDefaults, type RunShape } from "./defaults.js";
import { failed } from "./run.js";
import { metricOf, summarise } from "./aggregate.js";
import { oracleMean, oracleWorstExcess, type OracleWorld } from "./oracle.js";
import { objectives, perDomain, WeightTracker, type GymReport, type MixerResult, type OracleMixture } from "./report.js";
import { meanInterval, type Interval } from "./stats.js";

export interface SyntheticOptions {
  readonly mixers: readonly string[];
  readonly steps?: number;
  /** Number of seeds (overrides gym.seeds): the loss noise differs per seed. */
  readonly seeds?: number;
}

/** The environment: laws, transfer, and the data each domain has received. */
export class SyntheticWorld {
  readonly K: number;
  readonly D: Float64Array;
  private readonly E: Float64Array;
  private readonly B: Float64Array;
  private readonly beta: Float64Array;
  private readonly tau: number;

  constructor(laws: readonly { E: number; B: number; beta: number }[], s: Pick<SyntheticSection, "transfer" | "offset_tokens">) {
    this.K = laws.length;
    this.E = Float64Array.from(laws, (l) => l.E);
    this.B = Float64Array.from(laws, (l) => l.B);
    this.beta = Float64Array.from(laws, (l) => l.beta);
    this.tau = s.transfer;
    this.D = new Float64Array(this.K).fill(s.offset_tokens);
  }

  effective(i: number): number {
    let others = 0;
    for (let j = 0; j < this.K; j++) if (j !== i) others += this.D[j];
    return this.D[i] + this.tau * others;
  }

  loss(i: number): number {
    return this.E[i] + this.B[i] * Math.pow(this.effective(i), -this.beta[i]);
  }

  losses(): Float64Array {
    return Float64Array.from({ length: this.K }, (_, i) => this.loss(i));
  }

  /** DoGE's s_i for the law model (see the file comment). */
  alignment(): Float64Array {
    const K = this.K,
      tau = this.tau;
    const g = Float64Array.from({ length: K }, (_, i) => this.beta[i] * this.B[i] * Math.pow(this.effective(i), -this.beta[i] - 1));
    // ⟨T_i·, T_j·⟩ for i ≠ j, and ‖T_i·‖, with T = (1 − τ) I + τ 11ᵀ restricted to off-diagonal τ, diagonal 1.
    const cross = 2 * tau + (K - 2) * tau * tau;
    const norm = Math.sqrt(1 + (K - 1) * tau * tau);
    const total = g.reduce((a, b) => a + b, 0);
    const meanNorm = (total * norm) / K;
    return Float64Array.from(g, (gi) => (meanNorm > 0 ? (gi * (total - gi) * cross) / meanNorm : 0));
  }

  serve(n: ArrayLike<number>): void {
    for (let i = 0; i < this.K; i++) this.D[i] += n[i];
  }
}

/** Integer token counts ∝ w summing to T (largest remainder, ties to the lower index). */
export function allocate(w: ArrayLike<number>, T: number): Float64Array {
  const K = w.length;
  let sum = 0;
  for (let i = 0; i < K; i++) sum += w[i];
  const n = new Float64Array(K);
  const frac: number[] = [];
  let used = 0;
  for (let i = 0; i < K; i++) {
    const x = (w[i] / sum) * T;
    n[i] = Math.floor(x);
    used += n[i];
    frac.push(x - n[i]);
  }
  const order = frac.map((f, i) => i).sort((a, b) => frac[b] - frac[a] || a - b);
  for (let r = 0; r < T - used; r++) n[order[r % K]] += 1;
  return n;
}

/** mulberry32 (util/hash.ts) + Box–Muller: a small seeded normal generator. */
export function normals(seed: number): () => number {
  const uniform = mulberry32(seed);
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

interface SyntheticSetup {
  readonly g: GymConfig;
  readonly s: SyntheticSection;
  readonly names: string[];
  readonly laws: SyntheticSection["laws"][string][];
  readonly info: DomainInfo[];
  readonly steps: number;
  readonly T: number;
  readonly shape: RunShape;
  readonly refCurve: Float64Array[];
  readonly refFinal: Float64Array;
}

export function runSynthetic(g: GymConfig, options: SyntheticOptions): GymReport {
  const started = Date.now();
  const s = g.gym.synthetic;
  if (!s) throw new ConfigError("gym.synthetic", "--synthetic needs a gym.synthetic section with a law per domain");
  const { config } = g.loaded;
  const names = config.domains.map((d) => d.name);
  const laws = names.map((n) => {
    const l = s.laws[n];
    if (!l) throw new ConfigError(`gym.synthetic.laws.${n}`, "missing law for this domain");
    return l;
  });
  const K = names.length;
  const steps = options.steps ?? g.gym.steps;
  const T = s.tokens_per_step ?? config.world * config.batch_size * config.seq_len;
  const info: DomainInfo[] = names.map((name, i) => ({ name, tokens: laws[i].tokens }));
  const shape: RunShape = { steps, tokensPerStep: T, evalEvery: g.gym.eval_every, vocabSize: 4096 };

  // Reference: the same world under the reference mix; its loss at every step, and at the end.
  const refMix = g.gym.reference.mix === "natural" ? naturalWeights(info) : uniformWeights(K);
  const refWorld = new SyntheticWorld(laws, s);
  const refCurve: Float64Array[] = [];
  for (let t = 0; t < steps; t++) {
    refCurve.push(refWorld.losses());
    refWorld.serve(allocate(refMix, T));
  }
  const refFinal = refWorld.losses();
  const setup: SyntheticSetup = { g, s, names, laws, info, steps, T, shape, refCurve, refFinal };

  // The oracle: best static mixtures of the same law model (oracle.ts), each run through the same simulation.
  const world: OracleWorld = { laws, tau: s.transfer, offset: s.offset_tokens, total: steps * T };
  const oracleWeights = { mean: oracleMean(world), worst_excess: oracleWorstExcess(world, refFinal) };
  const oracle: OracleMixture[] = (["mean", "worst_excess"] as const).map((objective) => {
    const w = oracleWeights[objective];
    const r = runOne(setup, "static", { weights: perDomain(names, w) }, config.seed);
    return { objective, weights: perDomain(names, w), value: objective === "mean" ? r.mean : r.worst_excess.excess };
  });

  const nSeeds = options.seeds ?? g.gym.seeds;
  const seeds = Array.from({ length: nSeeds }, (_, i) => config.seed + i);
  const runs = options.mixers.map((name) => seeds.map((seed) => runOne(setup, name, g.gym.mixers[name] ?? {}, seed)));
  const mixers = summarise(runs, names, { dogeTarget: false, checks: g.gym.weight_checks });
  const uniform = runs.find((r) => r[0]?.name === "uniform");
  for (const [m, summary] of mixers.entries()) {
    summary.regret = {};
    for (const o of oracle) {
      const value = (r: MixerResult) => metricOf(r, o.objective);
      summary.regret[o.objective] = {
        vs_oracle: meanInterval(runs[m].map((r) => value(r) - o.value)),
        vs_uniform: meanInterval(runs[m].map((r, k) => value(r) - (uniform ? value(uniform[k]) : NaN))),
      };
    }
  }
  const refMean = refFinal.reduce((a, b) => a + b, 0) / K;
  const point = (x: number): Interval => ({ mean: x, lo: x, hi: x, n: 1 });
  return {
    mode: "synthetic",
    config: g.loaded.file ?? null,
    steps,
    tokens_per_step: T,
    feedback_lag: g.gym.feedback_lag,
    eval_every: g.gym.eval_every,
    domains: names,
    seeds,
    learner: { name: "synthetic", kind: "scaling laws L = E + B/D_eff^β", transfer: s.transfer, noise: s.noise, offset_tokens: s.offset_tokens },
    reference: { mix: g.gym.reference.mix, heldout: Object.fromEntries(names.map((n, i) => [n, point(refFinal[i])])), mean: point(refMean) },
    oracle,
    wall_seconds: (Date.now() - started) / 1000,
    mixers,
  };
}

/** One mixer on one seed (the seed drives the loss noise). */
function runOne(x: SyntheticSetup, name: string, extra: Record<string, unknown>, seed: number): MixerResult {
  const { g, s, names, laws, info, steps, T, refCurve, refFinal } = x;
  const K = names.length;
  const started = Date.now();
  try {
    const mixer = createMixer({ name, params: { ...gymDefaults(name, x.shape), ...extra } }, info);
    const world = new SyntheticWorld(laws, s);
    const noise = normals(seed);
    const tracker = new WeightTracker(names);
    const schedule = new WeightSchedule(mixer, g.gym.feedback_lag);
    const curve: MixerResult["curve"] = [];
    const served = new Float64Array(K);
    for (let t = 0; t < steps; t++) {
      const w = schedule.weightsFor(t);
      tracker.add(w);
      const n = allocate(w, T);
      const L = world.losses(),
        align = world.alignment();
      const domains = new Map<number, DomainFeedback>();
      for (let i = 0; i < K; i++) {
        const eps = noise(); // drawn for every domain, so the sequence does not depend on w
        if (n[i] === 0) continue;
        const l = Math.max(L[i] * (1 + s.noise * eps), 0);
        domains.set(i, {
          loss_sum: n[i] * l,
          tokens: n[i],
          ref_loss_sum: n[i] * refCurve[t][i],
          excess_loss_sum: n[i] * Math.max(l - refCurve[t][i], 0),
          grad_alignment: align[i],
        });
      }
      world.serve(n);
      for (let i = 0; i < K; i++) served[i] += n[i];
      if ((t + 1) % g.gym.eval_every === 0 || t === steps - 1) {
        const ev = world.losses();
        for (const [i, f] of domains) f.eval_loss = ev[i];
        const o = objectives(names, ev, refFinal);
        curve.push({ step: t + 1, mean: o.mean, worst_excess: o.worst_excess.excess, weights: Array.from(w) });
      }
      if (mixer.needsFeedback) schedule.fold({ step: t, domains, lr: g.gym.doge_lr });
    }
    const final = world.losses();
    const total = served.reduce((a, b) => a + b, 0);
    return {
      name,
      seed,
      params: mixer.describe(),
      heldout: perDomain(names, final),
      ...objectives(names, final, refFinal),
      target: null,
      weights: tracker.summary(),
      achieved: perDomain(
        names,
        Array.from(served, (v) => v / total),
      ),
      curve,
      wall_seconds: (Date.now() - started) / 1000,
    };
  } catch (e) {
    return failed(name, seed, names, (e as Error).message, (Date.now() - started) / 1000);
  }
}
