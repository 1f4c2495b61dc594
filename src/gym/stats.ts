/**
 * Statistics over seeds (gym issue 14, part 3): a metric's mean with a 95 % Student-t interval,
 * and the paired comparison of a mixer with uniform over the same seeds — the mean difference
 * with a 95 % paired-bootstrap percentile interval (Efron & Tibshirani 1993, §13; resampling
 * seeds, seeded so a report is reproducible), wins and losses, and the exact two-sided sign test.
 * A difference is marked only when its bootstrap interval excludes 0 AND so does the paired
 * t-interval of the differences: with 5 seeds a percentile bootstrap alone is optimistic (five
 * differences of one sign always give an interval without 0), the t-interval is not.
 */
import { mulberry32 } from "../util/hash.js";

export interface Interval {
  mean: number;
  lo: number;
  hi: number;
  n: number;
}

/** t_{0.975, df} for df = 1..30 (beyond: 1.96). */
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069,
  2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

export function tQuantile975(df: number): number {
  return df >= 1 && df <= T975.length ? T975[df - 1] : 1.96;
}

/** Mean and 95 % t-interval of finite values (NaN entries — failed runs — are left out). */
export function meanInterval(values: readonly number[]): Interval {
  const x = values.filter(Number.isFinite);
  const n = x.length;
  if (n === 0) return { mean: NaN, lo: NaN, hi: NaN, n };
  const mean = x.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { mean, lo: NaN, hi: NaN, n };
  const sd = Math.sqrt(x.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
  const h = (tQuantile975(n - 1) * sd) / Math.sqrt(n);
  return { mean, lo: mean - h, hi: mean + h, n };
}

export interface Paired {
  /** mean over seeds of (mixer − uniform). */
  delta: number;
  /** 95 % paired-bootstrap interval of the mean difference. */
  lo: number;
  hi: number;
  /** Seeds where the mixer is lower (better) / higher than uniform. */
  wins: number;
  losses: number;
  /** Exact two-sided sign-test p-value (ties dropped). */
  sign_p: number;
  /** Both intervals (bootstrap, paired t) exclude 0: "better" (below) or "worse" (above); else "tie". */
  verdict: "better" | "worse" | "tie";
}

const RESAMPLES = 10000;

/** Two-sided exact binomial sign test: P(|W − n/2| ≥ |w − n/2|), W ~ Bin(n, 1/2). */
export function signTest(wins: number, losses: number): number {
  const n = wins + losses;
  if (n === 0) return 1;
  const k = Math.min(wins, losses);
  let tail = 0,
    c = 1; // C(n, i)
  for (let i = 0; i <= k; i++) {
    tail += c;
    c = (c * (n - i)) / (i + 1);
  }
  return Math.min(1, (2 * tail) / 2 ** n);
}

/** Paired comparison of per-seed values a (the mixer) and b (uniform); pairs with a NaN are dropped. */
export function pairedComparison(a: readonly number[], b: readonly number[], seed = 0x5eed): Paired {
  const d: number[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (Number.isFinite(a[i]) && Number.isFinite(b[i])) d.push(a[i] - b[i]);
  const n = d.length;
  const wins = d.filter((x) => x < 0).length,
    losses = d.filter((x) => x > 0).length;
  const delta = n > 0 ? d.reduce((s, x) => s + x, 0) / n : NaN;
  if (n < 2) return { delta, lo: NaN, hi: NaN, wins, losses, sign_p: signTest(wins, losses), verdict: "tie" };
  const rand = mulberry32(seed);
  const means = new Float64Array(RESAMPLES);
  for (let r = 0; r < RESAMPLES; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += d[Math.floor(rand() * n)];
    means[r] = s / n;
  }
  means.sort();
  const lo = means[Math.floor(0.025 * RESAMPLES)],
    hi = means[Math.ceil(0.975 * RESAMPLES) - 1];
  const t = meanInterval(d);
  const verdict = hi < 0 && t.hi < 0 ? "better" : lo > 0 && t.lo > 0 ? "worse" : "tie";
  return { delta, lo, hi, wins, losses, sign_p: signTest(wins, losses), verdict };
}
