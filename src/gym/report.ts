/** What a gym run reports (the `--json` output), the summaries every mode shares, and the stdout table. */
import type { Interval, Paired } from "./stats.js";

export type PerDomain = Record<string, number>;

export interface WeightSummary {
  start: PerDomain;
  end: PerDomain;
  min: PerDomain;
  max: PerDomain;
  /** Mean over steps of the weights used (≈ the token share asked for). */
  mean: PerDomain;
}

/** One mixer's run on one seed. */
export interface MixerResult {
  name: string;
  seed: number;
  params: Record<string, unknown>;
  /** Final held-out mean loss per token (nats) per domain. */
  heldout: PerDomain;
  /** Unweighted mean over domains of `heldout`. */
  mean: number;
  worst: { domain: string; loss: number };
  /** max_i (heldout_i − reference_i): DoReMi's objective. */
  worst_excess: { domain: string; excess: number };
  /** Held-out loss on gym.target (out of domain), when there is one. */
  target: number | null;
  weights: WeightSummary;
  /** Token share actually served per domain over the run. */
  achieved: PerDomain;
  /** Held-out mean and worst excess at every evaluation, with the weights in force then (config order). */
  curve: { step: number; mean: number; worst_excess: number; weights: number[] }[];
  wall_seconds: number;
  error?: string;
}

/** The metrics every mixer is summarised on; each mixer is judged on its own (objectiveOf). */
export type Metric = "mean" | "worst" | "worst_excess" | "target";

/** A mixer over all seeds: intervals of every metric, and the paired comparison with uniform. */
export interface MixerSummary {
  name: string;
  params: Record<string, unknown>;
  seeds: number[];
  runs: MixerResult[];
  metrics: Partial<Record<Metric, Interval>>;
  heldout: Record<string, Interval>;
  achieved: Record<string, Interval>;
  /** Own objective vs uniform (null for uniform itself or when uniform failed). */
  vs_uniform: ({ objective: Metric } & Paired) | null;
  /** Every metric vs uniform. */
  paired: Partial<Record<Metric, Paired>>;
  /** share(lower) − share(than) for each gym.weight_checks entry, paired over seeds (a weight is lower where hi < 0). */
  weight_checks: { lower: string; than: string; diff: Interval; below: number; of: number }[];
  /** Synthetic mode: final objective minus the oracle's (≥ 0 up to noise) and minus uniform's, per objective. */
  regret?: Partial<Record<"mean" | "worst_excess", { vs_oracle: Interval; vs_uniform: Interval }>>;
  /** Mean over seeds of the curve (intervals on the objectives, mean weights). */
  curve: { step: number; mean: Interval; worst_excess: Interval; weights: number[] }[];
  wall_seconds: number;
  errors: string[];
}

export interface OracleMixture {
  objective: "mean" | "worst_excess";
  weights: PerDomain;
  /** The objective the static mixture reaches in the law model (noiseless). */
  value: number;
}

export interface GymReport {
  mode: "real" | "synthetic";
  config: string | null;
  steps: number;
  tokens_per_step: number;
  feedback_lag: number;
  eval_every: number;
  domains: string[];
  seeds: number[];
  learner: Record<string, unknown>;
  reference: {
    mix: string;
    heldout: Record<string, Interval>;
    mean: Interval;
    entropy?: PerDomain;
    laws?: Record<string, { E: number; B: number; beta: number; rmse: number } | null>;
  };
  /** Documents per part per domain (first seed) and held-out tokens. */
  split?: { train: PerDomain; reference: PerDomain; heldout: PerDomain; heldout_tokens: PerDomain };
  /** The best static mixtures of the law model (synthetic mode). */
  oracle?: OracleMixture[];
  tokenize_seconds?: number;
  wall_seconds: number;
  mixers: MixerSummary[];
}

/** Running min/max/mean of the weights a mixer used. */
export class WeightTracker {
  private readonly start: Float64Array;
  private readonly end: Float64Array;
  private readonly min: Float64Array;
  private readonly max: Float64Array;
  private readonly sum: Float64Array;
  private n = 0;

  constructor(private readonly names: readonly string[]) {
    const K = names.length;
    this.start = new Float64Array(K);
    this.end = new Float64Array(K);
    this.min = new Float64Array(K).fill(Infinity);
    this.max = new Float64Array(K).fill(-Infinity);
    this.sum = new Float64Array(K);
  }

  add(w: ArrayLike<number>): void {
    if (this.n === 0) this.start.set(w);
    this.end.set(w);
    for (let i = 0; i < w.length; i++) {
      this.min[i] = Math.min(this.min[i], w[i]);
      this.max[i] = Math.max(this.max[i], w[i]);
      this.sum[i] += w[i];
    }
    this.n += 1;
  }

  summary(): WeightSummary {
    const rec = (a: ArrayLike<number>, f = 1) =>
      perDomain(
        this.names,
        Array.from(a, (x) => x * f),
      );
    return { start: rec(this.start), end: rec(this.end), min: rec(this.min), max: rec(this.max), mean: rec(this.sum, 1 / Math.max(this.n, 1)) };
  }
}

export function perDomain(names: readonly string[], values: ArrayLike<number>): PerDomain {
  return Object.fromEntries(names.map((n, i) => [n, values[i]]));
}

/** Mean, worst domain and worst excess over the reference of per-domain held-out losses. */
export function objectives(names: readonly string[], loss: ArrayLike<number>, ref: ArrayLike<number>) {
  let mean = 0,
    worst = 0,
    worstExcess = 0;
  for (let i = 0; i < names.length; i++) {
    mean += loss[i] / names.length;
    if (loss[i] > loss[worst]) worst = i;
    if (loss[i] - ref[i] > loss[worstExcess] - ref[worstExcess]) worstExcess = i;
  }
  return {
    mean,
    worst: { domain: names[worst], loss: loss[worst] },
    worst_excess: { domain: names[worstExcess], excess: loss[worstExcess] - ref[worstExcess] },
  };
}
