/**
 * `bimix`: the bivariate data-mixing law (Ge et al., arXiv 2405.14908 v4, Eq. 3–4):
 *   L_i(r_i, s) = (A_i / r_i^{α_i}) · (B_i / s^{β_i} + C_i)
 * r_i the domain's proportion, s the training step. Per domain, the law is fitted to
 * ⟨r, s, L⟩ tuples; then the mixture is optimised for a target step s*:
 *   r* = argmin Σ_i L_i(r_i, s*)   s.t. Σ r_i = 1, r_i ≥ r_min.
 * Training-free start (paper §4.3, "entropy proxies"): r_i = e^{H_i} / Σ_j e^{H_j} with H_i
 * the conditional (bigram) entropy of domain i (DomainInfo.entropy, computed by the
 * tokenizer stage); the paper prefers conditional entropy.
 *
 * No official code was found in the index here. The paper fits with SciPy's
 * trust-region-reflective least squares and reports R² on a log scale; mixload instead:
 * - fits log L (so the residuals are the log-scale ones the paper's R² is about) by bounded
 *   Levenberg–Marquardt (fit.ts, mathjs for the normal equations);
 * - removes the law's one scale redundancy (A·B and A·C are all the data can identify)
 *   by fixing C_i = 1, so A_i is the s → ∞ loss at r_i = 1; the θ actually fitted is
 *   (α, ln AB, β, ln AC) with 0 ≤ α, β ≤ 3;
 * - solves the mixture problem exactly: the objective is convex and separable, so the KKT
 *   conditions give r_i(μ) = clamp((α_i c_i / μ)^{1/(1+α_i)}, r_min, 1) with
 *   c_i = A_i(B_i s*^{−β_i} + C_i), and μ is found by bisection on Σ r_i(μ) = 1;
 * - reports R² (log scale) and mean relative error per domain in-sample, and on held-out
 *   tuples with s > fit_until_step (the paper's "extrapolation" error) when given.
 * Tuples come from params.points (earlier runs' schedule logs or a tuple file, parsed by
 * the caller) and, with refit_every > 0, from this run: each step records ⟨the domain's
 * current weight, step + 1, loss_sum/tokens⟩ (capped at max_points per domain by dropping
 * every other point). One mixture alone cannot identify α (r barely varies), which is why
 * the paper fits over several mixtures; with online data only α stays near its start until
 * refits have moved r.
 */
import { z } from "zod";
import { allFinite, checkFeedback, naturalWeights, smooth, softmax, uniformWeights, vec } from "./common.js";
import { ConfigError, MixerInputError, type DomainInfo, type Mixer, type MixerState, type StepFeedback } from "./contract.js";
import { bestOf, rSquared } from "./fit.js";
import { StateReader } from "./state.js";

const tuple = z
  .object({ domain: z.string(), r: z.number().finite().positive().max(1), s: z.number().finite().positive(), loss: z.number().finite().positive() })
  .strict();

export const bimixSchema = z
  .object({
    points: z.array(tuple).optional(),
    target_step: z.number().finite().positive().optional(),
    r_min: z.number().min(0).max(1).default(1e-3),
    start: z.enum(["entropy", "uniform", "natural"]).optional(),
    refit_every: z.number().int().nonnegative().default(0),
    fit_until_step: z.number().finite().positive().optional(),
    max_points: z.number().int().min(10).default(1000),
  })
  .strict();
export type BimixParams = z.infer<typeof bimixSchema>;

interface Series {
  r: number[];
  s: number[];
  loss: number[];
}

export interface BimixLaw {
  A: number;
  alpha: number;
  B: number;
  beta: number;
  C: number;
  /** R² of ln L, in-sample. */
  r2_log: number;
  /** Mean |L̂ − L| / L in-sample. */
  mre: number;
  /** Same two on tuples with s > fit_until_step, when any. */
  holdout_r2_log: number | null;
  holdout_mre: number | null;
  n: number;
}

/** Fit one domain's law (C fixed to 1, see above). Needs ≥ 5 tuples. */
export function fitBimixLaw(data: Series, fitUntil = Infinity): BimixLaw | null {
  const idx = data.s.map((_, i) => i).filter((i) => data.s[i] <= fitUntil);
  const hold = data.s.map((_, i) => i).filter((i) => data.s[i] > fitUntil);
  const n = idx.length;
  if (n < 5) return null;
  const lnr = idx.map((i) => Math.log(data.r[i])),
    lns = idx.map((i) => Math.log(data.s[i])),
    y = idx.map((i) => Math.log(data.loss[i]));
  // θ = (α, u = ln AB, β, v = ln AC):  ln L = −α ln r + ln(e^{u − β ln s} + e^{v})
  const ls = {
    n,
    p: 4,
    evaluate(t: Float64Array, res: Float64Array, J: Float64Array | null) {
      for (let i = 0; i < n; i++) {
        const a = t[1] - t[2] * lns[i],
          b = t[3];
        const m = Math.max(a, b),
          ea = Math.exp(a - m),
          eb = Math.exp(b - m),
          z = ea + eb;
        res[i] = -t[0] * lnr[i] + m + Math.log(z) - y[i];
        if (J) {
          const o = 4 * i,
            fa = ea / z;
          J[o] = -lnr[i];
          J[o + 1] = fa;
          J[o + 2] = -lns[i] * fa;
          J[o + 3] = 1 - fa;
        }
      }
    },
  };
  const lo = Math.min(...y),
    hi = Math.max(...y),
    minLns = Math.min(...lns);
  const spread = Math.log(Math.max(Math.exp(hi) - Math.exp(lo), 1e-6 * Math.exp(lo)));
  const starts = [0.3, 1].map((beta) => [0.1, spread + beta * minLns, beta, lo]);
  const f = bestOf(ls, starts, { lower: [0, -Infinity, 0, -Infinity], upper: [3, Infinity, 3, Infinity], maxIter: 100, tol: 1e-9 });
  if (!allFinite(f.theta)) return null;
  const [alpha, u, beta, v] = f.theta;
  const law = { A: Math.exp(v), alpha, B: Math.exp(u - v), beta, C: 1 };
  const score = (ids: number[]) => {
    if (ids.length === 0) return [null, null] as const;
    const obs = ids.map((i) => Math.log(data.loss[i]));
    const pred = ids.map((i) => Math.log(bimixLoss(law, data.r[i], data.s[i])));
    const mre = ids.reduce((acc, i, j) => acc + Math.abs(Math.exp(pred[j]) - data.loss[i]) / data.loss[i], 0) / ids.length;
    return [rSquared(obs, pred), mre] as const;
  };
  const [r2, mre] = score(idx),
    [hr2, hmre] = score(hold);
  return { ...law, r2_log: r2!, mre: mre!, holdout_r2_log: hr2, holdout_mre: hmre, n };
}

export function bimixLoss(l: { A: number; alpha: number; B: number; beta: number; C: number }, r: number, s: number): number {
  return (l.A / Math.pow(r, l.alpha)) * (l.B / Math.pow(s, l.beta) + l.C);
}

/** argmin Σ A_i r_i^{−α_i}(B_i s^{−β_i} + C_i) on {Σ r = 1, r ≥ r_min}, by KKT + bisection on ln μ. Null if nothing depends on r. */
export function optimiseMixture(laws: readonly BimixLaw[], s: number, rMin: number): Float64Array | null {
  const K = laws.length;
  if (!laws.some((l) => l.alpha > 1e-12)) return null;
  const lnAc = laws.map((l) => Math.log(l.alpha) + Math.log(l.A) + Math.log(l.B * Math.pow(s, -l.beta) + l.C));
  const at = (lnMu: number) =>
    Float64Array.from(laws, (l, i) => (l.alpha > 1e-12 ? Math.min(Math.max(Math.exp((lnAc[i] - lnMu) / (1 + l.alpha)), rMin), 1) : rMin));
  const total = (r: Float64Array) => r.reduce((a, b) => a + b, 0);
  let lo = -1e4,
    hi = 1e4; // Σ r(lo) ≥ 1 ≥ Σ r(hi)
  for (let it = 0; it < 200 && hi - lo > 1e-13 * Math.max(1, Math.abs(lo)); it++) {
    const mid = 0.5 * (lo + hi);
    if (total(at(mid)) > 1) lo = mid;
    else hi = mid;
  }
  const r = at(0.5 * (lo + hi));
  const sum = total(r);
  // Σ r = 1 up to bisection precision; spread the rounding over the unclamped domains only.
  const free = r.reduce((a, x) => a + (x > rMin ? x : 0), 0);
  for (let i = 0; i < K; i++) if (r[i] > rMin) r[i] *= (free - (sum - 1)) / free;
  return allFinite(r) ? r : null;
}

/** Everything BiMix changes while it runs. state() writes it as JSON under these keys. */
interface BimixState {
  /** r, the sampling weights (the optimised mixture, or the start weights before the first fit). */
  weights: Float64Array;
  last_step: number;
  /** ⟨r, s, L⟩ tuples recorded during this run, per domain (refit_every > 0). */
  online: Series[];
  /** The last fit per domain; report-only (every refit starts again from the tuples). */
  laws: (BimixLaw | null)[];
}

const LAW_FIELDS = ["A", "alpha", "B", "beta", "C", "r2_log", "mre", "holdout_r2_log", "holdout_mre", "n"] as const;

export class BimixMixer implements Mixer {
  readonly name = "bimix";
  readonly needsFeedback: boolean;
  private readonly K: number;
  private readonly startWeights: Float64Array;
  private readonly offline: Series[];
  private s: BimixState;

  constructor(
    private readonly domains: readonly DomainInfo[],
    private readonly p: BimixParams,
  ) {
    const K = (this.K = domains.length);
    if (K * p.r_min > 1) throw new ConfigError("mixer.params.r_min", `K·r_min = ${K * p.r_min} > 1: no mixture satisfies the floor`);
    this.needsFeedback = p.refit_every > 0;
    if ((p.points || this.needsFeedback) && p.target_step === undefined)
      throw new ConfigError("mixer.params.target_step", "the mixture is optimised for a target step; give target_step");
    const hasEntropy = domains.every((d) => typeof d.entropy === "number" && Number.isFinite(d.entropy));
    const start = p.start ?? (hasEntropy ? "entropy" : "uniform");
    if (start === "entropy" && !hasEntropy) throw new ConfigError("mixer.params.start", "entropy start needs DomainInfo.entropy for every domain");
    const raw = start === "entropy" ? softmax(domains.map((d) => d.entropy!)) : start === "natural" ? naturalWeights(domains) : uniformWeights(K);
    this.startWeights = smooth(raw, K * p.r_min); // (1 − K r_min) r + r_min: on the simplex, ≥ r_min
    const byDomain = new Map(domains.map((d, i) => [d.name, i]));
    this.offline = domains.map(() => ({ r: [], s: [], loss: [] }));
    (p.points ?? []).forEach((t, j) => {
      const i = byDomain.get(t.domain);
      if (i === undefined) throw new ConfigError(`mixer.params.points[${j}].domain`, `unknown domain "${t.domain}"`);
      this.offline[i].r.push(t.r);
      this.offline[i].s.push(t.s);
      this.offline[i].loss.push(t.loss);
    });
    const online: Series[] = domains.map(() => ({ r: [], s: [], loss: [] }));
    const [laws, weights] = p.points ? this.fitAndOptimise(online, this.startWeights) : [new Array<BimixLaw | null>(K).fill(null), this.startWeights];
    this.s = { weights, last_step: -1, online, laws };
  }

  /** Fit every domain's law on offline + online tuples, then r* = argmin Σ_i L_i(r_i, s*); keeps `current` if any fit fails. */
  private fitAndOptimise(online: Series[], current: Float64Array): [(BimixLaw | null)[], Float64Array] {
    const laws = this.domains.map((_, i) => {
      const a = this.offline[i],
        b = online[i];
      return fitBimixLaw({ r: [...a.r, ...b.r], s: [...a.s, ...b.s], loss: [...a.loss, ...b.loss] }, this.p.fit_until_step ?? Infinity);
    });
    const r = laws.every((l) => l !== null) ? optimiseMixture(laws as BimixLaw[], this.p.target_step!, this.p.r_min) : null;
    return [laws, r ?? current];
  }

  weights(_step?: number): Float64Array {
    return Float64Array.from(this.s.weights);
  }

  update(fb: StepFeedback): void {
    const present = checkFeedback(fb, this.domains, this.s.last_step);
    if (!this.needsFeedback) {
      this.s = { ...this.s, last_step: fb.step };
      return;
    }
    const cur = this.s;
    const adds: [number, number][] = []; // (domain, loss); r is the current weight, s = step + 1
    for (const sig of present) if (sig.loss > 0 && cur.weights[sig.index] > 0) adds.push([sig.index, sig.loss]); // ln L, ln r need > 0
    const refit = (fb.step + 1) % this.p.refit_every === 0;
    // Between refits append in place (after validation nothing can throw); a refit works on copies.
    const online = refit ? cur.online.map((o) => ({ r: [...o.r], s: [...o.s], loss: [...o.loss] })) : cur.online;
    let laws = cur.laws,
      weights = cur.weights;
    for (const [i, loss] of adds) this.append(online[i], cur.weights[i], fb.step + 1, loss);
    if (refit) {
      [laws, weights] = this.fitAndOptimise(online, cur.weights);
      if (!allFinite(weights)) throw new MixerInputError("*", "loss_sum", "fit", "refit produced non-finite weights");
    }
    this.s = { weights, last_step: fb.step, online, laws };
  }

  /** Record one tuple; past max_points drop every other one (older history thinned, deterministic). */
  private append(o: Series, r: number, s: number, loss: number): void {
    o.r.push(r);
    o.s.push(s);
    o.loss.push(loss);
    if (o.r.length > this.p.max_points) for (const k of ["r", "s", "loss"] as const) o[k] = o[k].filter((_, j) => j % 2 === 1);
  }

  state(): MixerState {
    const s = this.s;
    return {
      name: this.name,
      weights: vec(s.weights),
      last_step: s.last_step,
      online: s.online.map((o) => ({ r: [...o.r], s: [...o.s], loss: [...o.loss] })),
      laws: s.laws.map((l) => (l ? { ...l } : null)),
    };
  }

  restore(blob: MixerState): void {
    const r = new StateReader(blob, this.name, this.K);
    this.s = {
      weights: r.vec("weights"),
      last_step: r.num("last_step"),
      online: r.perDomain("online", (o, at) => r.series(o, at, ["r", "s", "loss"], false)),
      // Report-only, so any number (or null, JSON's ±∞/NaN) is accepted where a fit could have written one.
      laws: r.perDomain("laws", (l, at) => (l === null ? null : (r.record(l, at, [], LAW_FIELDS) as unknown as BimixLaw))),
    };
  }

  describe(): Record<string, unknown> {
    const per = (f: (i: number) => unknown) => Object.fromEntries(this.domains.map((d, i) => [d.name, f(i)]));
    return {
      name: this.name,
      floor: this.p.r_min,
      r_min: this.p.r_min,
      target_step: this.p.target_step ?? null,
      refit_every: this.p.refit_every,
      fit_until_step: this.p.fit_until_step ?? null,
      start_weights: per((i) => this.startWeights[i]),
      laws: per((i) => this.s.laws[i]),
    };
  }
}
