/**
 * Bounded Levenberg–Marquardt for the small per-domain laws (Velocitune's E + B/D^β, fitted
 * here by `fitDataLaw` because the gym fits it too; BiMix's five-coefficient law and ADO's
 * power law, fitted in their own files). Residuals and the Jacobian are
 * filled by plain loops into Float64Arrays (n can be thousands); the p×p damped
 * normal equations (p ≤ 5) are solved with mathjs. Bounds are enforced by projecting
 * every trial point, which is enough for laws whose optimum is usually interior.
 */
import { createRequire } from "node:module";

/**
 * mathjs is loaded on the first fit, not at import: it costs ~1 s and ~50 MB at start-up, and
 * most runs (static mixers, DoReMi, DoGE, the service's resume path) never fit a law.
 */
let mathjs: typeof import("mathjs") | undefined;
/** Solve the small dense system M x = g with mathjs's LU decomposition. */
function lusolve(M: number[][], g: number[]): number[] {
  mathjs ??= createRequire(import.meta.url)("mathjs") as typeof import("mathjs");
  return (mathjs.lusolve(M, g) as number[][]).map((x) => x[0]);
}

export interface LeastSquares {
  /** Number of residuals. */
  n: number;
  /** Number of parameters. */
  p: number;
  /** Fill r (length n) at θ; when J is given also the Jacobian ∂r/∂θ, row-major n×p. */
  evaluate(theta: Float64Array, r: Float64Array, J: Float64Array | null): void;
}

export interface FitOptions {
  lower?: ArrayLike<number>;
  upper?: ArrayLike<number>;
  maxIter?: number;
  /** Stop when a step improves the sum of squares by less than this fraction. */
  tol?: number;
}

export interface FitResult {
  theta: Float64Array;
  sse: number;
  iterations: number;
}

function project(theta: Float64Array, lo?: ArrayLike<number>, hi?: ArrayLike<number>): Float64Array {
  for (let j = 0; j < theta.length; j++) {
    if (lo && theta[j] < lo[j]) theta[j] = lo[j];
    if (hi && theta[j] > hi[j]) theta[j] = hi[j];
  }
  return theta;
}

function sumSq(r: Float64Array): number {
  let s = 0;
  for (let i = 0; i < r.length; i++) s += r[i] * r[i];
  return s;
}

export function levenbergMarquardt(ls: LeastSquares, theta0: ArrayLike<number>, opt: FitOptions = {}): FitResult {
  const { n, p } = ls;
  const maxIter = opt.maxIter ?? 100;
  const tol = opt.tol ?? 1e-10;
  let theta = project(Float64Array.from(theta0), opt.lower, opt.upper);
  const r = new Float64Array(n),
    J = new Float64Array(n * p),
    rTrial = new Float64Array(n);
  ls.evaluate(theta, r, J);
  let sse = sumSq(r);
  let lambda = 1e-3;
  let it = 0;
  for (; it < maxIter && Number.isFinite(sse); it++) {
    // Normal equations JᵀJ δ = −Jᵀr, damped on the diagonal (Marquardt's scaling).
    const A: number[][] = Array.from({ length: p }, () => new Array<number>(p).fill(0));
    const g: number[] = new Array<number>(p).fill(0);
    for (let i = 0; i < n; i++) {
      const row = i * p;
      for (let a = 0; a < p; a++) {
        const ja = J[row + a];
        g[a] -= ja * r[i];
        for (let b = a; b < p; b++) A[a][b] += ja * J[row + b];
      }
    }
    for (let a = 0; a < p; a++) for (let b = 0; b < a; b++) A[a][b] = A[b][a];
    let accepted = false;
    while (!accepted && lambda < 1e12) {
      const M = A.map((row, a) => row.map((v, b) => (a === b ? v + lambda * (v + 1e-12) : v)));
      let delta: number[];
      try {
        delta = lusolve(M, g);
      } catch {
        lambda *= 10; // singular even with damping: damp harder
        continue;
      }
      const trial = project(
        Float64Array.from(theta, (t, j) => t + delta[j]),
        opt.lower,
        opt.upper,
      );
      ls.evaluate(trial, rTrial, null);
      const sseTrial = sumSq(rTrial);
      if (Number.isFinite(sseTrial) && sseTrial < sse) {
        const gain = (sse - sseTrial) / Math.max(sse, 1e-300);
        theta = trial;
        sse = sseTrial;
        ls.evaluate(theta, r, J);
        lambda = Math.max(lambda / 3, 1e-12);
        accepted = true;
        if (gain < tol) return { theta, sse, iterations: it + 1 };
      } else {
        lambda *= 4;
      }
    }
    if (!accepted) break; // no downhill step at any damping: a (local) minimum
  }
  return { theta, sse, iterations: it };
}

/** Try several starting points; keep the lowest sum of squares (ADO fits from a grid of starts too). */
export function bestOf(ls: LeastSquares, starts: ArrayLike<number>[], opt: FitOptions = {}): FitResult {
  let best: FitResult | null = null;
  for (const s of starts) {
    const f = levenbergMarquardt(ls, s, opt);
    if (Number.isFinite(f.sse) && (best === null || f.sse < best.sse)) best = f;
  }
  return best ?? { theta: Float64Array.from(starts[0]), sse: Infinity, iterations: 0 };
}

/** Coefficient of determination of predictions against observations. */
export function rSquared(obs: ArrayLike<number>, pred: ArrayLike<number>): number {
  let mean = 0;
  for (let i = 0; i < obs.length; i++) mean += obs[i];
  mean /= obs.length;
  let ssRes = 0,
    ssTot = 0;
  for (let i = 0; i < obs.length; i++) {
    ssRes += (obs[i] - pred[i]) ** 2;
    ssTot += (obs[i] - mean) ** 2;
  }
  return ssTot > 0 ? 1 - ssRes / ssTot : ssRes === 0 ? 1 : 0;
}

/** A fitted L(D) = E + B·D^{−β}, with its root-mean-square error and residuals (the fit report). */
export interface LawFit {
  E: number;
  B: number;
  beta: number;
  rmse: number;
  residuals: number[];
}

/**
 * Fit the data-only Chinchilla law L(D) = E + B·D^{−β} (Hoffmann et al. 2022 with the model
 * size held fixed; Velocitune's target estimation, and the gym's reference laws).
 * θ = (E, ln B, β) with 0 ≤ E ≤ min L and 0 ≤ β ≤ 3, from three starts (β = 0.2, 0.5, 1).
 */
export function fitDataLaw(D: readonly number[], L: readonly number[]): LawFit {
  const n = D.length;
  const lnD = D.map(Math.log);
  const minL = Math.min(...L);
  const meanLnD = lnD.reduce((a, b) => a + b, 0) / n;
  const ls = {
    n,
    p: 3,
    evaluate(t: Float64Array, r: Float64Array, J: Float64Array | null) {
      for (let i = 0; i < n; i++) {
        const q = Math.exp(t[1] - t[2] * lnD[i]);
        r[i] = t[0] + q - L[i];
        if (J) {
          J[3 * i] = 1;
          J[3 * i + 1] = q;
          J[3 * i + 2] = -lnD[i] * q;
        }
      }
    },
  };
  const starts = [0.2, 0.5, 1].map((beta) => {
    const E = 0.5 * minL;
    const excess = L.reduce((a, b) => a + (b - E), 0) / n;
    return [E, Math.log(Math.max(excess, 1e-12)) + beta * meanLnD, beta];
  });
  const f = bestOf(ls, starts, { lower: [0, -Infinity, 0], upper: [minL, Infinity, 3], maxIter: 200 });
  const r = new Float64Array(n);
  ls.evaluate(f.theta, r, null);
  return { E: f.theta[0], B: Math.exp(f.theta[1]), beta: f.theta[2], rmse: Math.sqrt(f.sse / n), residuals: Array.from(r) };
}

/** The fitted law at D tokens. */
export const lawAt = (f: LawFit, D: number): number => f.E + f.B * Math.pow(D, -f.beta);
