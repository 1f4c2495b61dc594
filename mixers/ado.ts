/**
 * `ado`: Adaptive Data Optimization (Jiang et al. 2024, "Adaptive Data Optimization:
 * Dynamic Sample Selection with Scaling Laws", §3). Each domain gets a power law in the
 * amount of data seen, refitted every `update_every` steps:
 *   L̂_k(n) = e^{E_k} + e^{A_k} n^{−α_k}
 * and the sampling policy favours domains whose loss still falls fast per sample:
 *   score_k = max(α_k, 0.05) · (L̂_k(n_k) − e^{E_k}) / n_k · ρ_k · √(h_k (1 − h_k))
 *   dist    = clip_min(score / Σ score, 1e-2)
 *   p       = 0.9 · p̄ + 0.1 · dist,   then p̄ ← (1 − 1/(t+1)) p̄ + dist/(t+1)
 * ρ = natural proportions (the prior), h = EMA (γ = 0.9) of the realised batch composition.
 *
 * Checked against yidingjiang/ado, src/data_selectors/ado.py (`AdoSelector.curr_dist`,
 * `update`, `fit_scaling_law`, `clip_min_probability`) and configs/loader/pile_ado.yaml
 * (ignore_steps = start_step = 1000, update_interval = 1000). Found while reading:
 * - the credit-assignment factor is √(h(1 − h)) in the code, not √h as MIXERS.md had it;
 *   mixload follows the code;
 * - p uses the OLD running average p̄, which is updated afterwards with step t;
 * - with `use_same_step_size` (default True) every domain's n is the TOTAL count seen, not
 *   the domain's own (`same_step_size`, default true here too);
 * - absent domains reuse their last loss (else the step's mean), as in the code.
 * Deviations: n counts tokens (the code counts sequences of 1024 tokens); the fit is
 * least squares on ln L by bounded Levenberg–Marquardt (fit.ts) from 6 starts, α ∈ [0, 0.8],
 * instead of Huber(δ = 1e-3) + L-BFGS from a 512-point grid with soft penalties (the
 * code's e ≥ 0.5 and a ≤ 6.5 penalties assume LLM-scale losses and sequence counts, so
 * they are dropped); the noisy training loss is smoothed by averaging windows of
 * `subsample` steps (the code: Savitzky–Golay(101, 3), then every 10th step). Optional
 * floor `eps` (default 0): p ← (1 − eps) p + eps/K. Before the first fit p = ρ.
 */
import { z } from "zod";
import { allFinite, checkFeedback, naturalWeights, normalize, smooth, vec } from "./common.js";
import { ConfigError, MixerInputError, type DomainInfo, type Mixer, type MixerState, type StepFeedback } from "./contract.js";
import { bestOf } from "./fit.js";
import { StateReader } from "./state.js";

export const adoSchema = z
  .object({
    update_every: z.number().int().positive().default(1000),
    start_step: z.number().int().nonnegative().default(1000),
    ignore_steps: z.number().int().nonnegative().default(1000),
    subsample: z.number().int().positive().default(10),
    gamma: z.number().min(0).lt(1).default(0.9),
    mix: z.number().min(0).max(1).default(0.1),
    min_prob: z.number().min(0).lt(1).default(1e-2),
    min_exponent: z.number().min(0).default(0.05),
    same_step_size: z.boolean().default(true),
    eps: z.number().min(0).max(1).default(0),
    max_points: z.number().int().min(10).default(2000),
  })
  .strict();
export type AdoParams = z.infer<typeof adoSchema>;

/** θ = (A, E, α) of ln L̂ = logsumexp(A − α ln n, E). */
export function fitAdoLaw(n: readonly number[], L: readonly number[]): Float64Array | null {
  const m = n.length;
  if (m < 5) return null;
  const lnn = n.map(Math.log),
    y = L.map(Math.log);
  const ls = {
    n: m,
    p: 3,
    evaluate(t: Float64Array, r: Float64Array, J: Float64Array | null) {
      for (let i = 0; i < m; i++) {
        const a = t[0] - t[2] * lnn[i],
          e = t[1],
          mx = Math.max(a, e);
        const ea = Math.exp(a - mx),
          ee = Math.exp(e - mx),
          z = ea + ee;
        r[i] = mx + Math.log(z) - y[i];
        if (J) {
          const fa = ea / z;
          J[3 * i] = fa;
          J[3 * i + 1] = 1 - fa;
          J[3 * i + 2] = -lnn[i] * fa;
        }
      }
    },
  };
  const minL = Math.min(...L),
    maxL = Math.max(...L),
    meanLnn = lnn.reduce((a, b) => a + b, 0) / m;
  const starts: number[][] = [];
  for (const alpha of [0.1, 0.3, 0.6])
    for (const f of [0.5, 0.9]) starts.push([Math.log(Math.max(maxL - f * minL, 1e-9)) + alpha * meanLnn, Math.log(f * minL), alpha]);
  const fit = bestOf(ls, starts, { lower: [-Infinity, -Infinity, 0], upper: [Infinity, Infinity, 0.8], maxIter: 100 });
  return allFinite(fit.theta) && Number.isFinite(fit.sse) ? fit.theta : null;
}

/** The official `clip_min_probability`: rescale to leave room for the floor, clip, renormalise. */
function clipMinProbability(p: Float64Array, minProb: number): Float64Array {
  const sum = p.reduce((a, b) => a + b, 0);
  const deficit = Math.max(minProb * p.length - sum, 0);
  const scale = (1 - deficit) / sum;
  return normalize(Float64Array.from(p, (x) => Math.max(x * scale, minProb)));
}

interface Series {
  n: number[];
  loss: number[];
}

/** Everything ADO changes while it runs. state() writes it as JSON under these keys. */
interface AdoState {
  /** p, the sampling weights. */
  weights: Float64Array;
  /** p̄, the running average of the score distributions. */
  p_avg: Float64Array;
  /** h, the EMA of the realised batch composition. */
  h: Float64Array;
  /** n_k, data seen (tokens; every domain's is the total with same_step_size). */
  seen: Float64Array;
  /** Each domain's last observed loss (−1 = none yet). */
  last_loss: Float64Array;
  /** The open subsample window: Σ loss per domain over win_count steps. */
  win_loss: Float64Array;
  win_count: number;
  last_step: number;
  /** ⟨n, L⟩ points the laws are fitted on, per domain. */
  history: Series[];
  /** θ = (A, E, α) per domain, or null before its first successful fit. */
  laws: (number[] | null)[];
}

export class AdoMixer implements Mixer {
  readonly name = "ado";
  readonly needsFeedback = true;
  private readonly K: number;
  private readonly rho: Float64Array;
  private s: AdoState;

  constructor(
    private readonly domains: readonly DomainInfo[],
    private readonly prm: AdoParams,
  ) {
    const K = (this.K = domains.length);
    if (prm.min_prob * K > 1) throw new ConfigError("mixer.params.min_prob", `K·min_prob = ${prm.min_prob * K} > 1`);
    this.rho = naturalWeights(domains);
    this.s = {
      weights: smooth(this.rho, prm.eps),
      p_avg: Float64Array.from(this.rho),
      h: Float64Array.from(this.rho),
      seen: new Float64Array(K),
      last_loss: new Float64Array(K).fill(-1),
      win_loss: new Float64Array(K),
      win_count: 0,
      last_step: -1,
      history: domains.map(() => ({ n: [], loss: [] })),
      laws: new Array<number[] | null>(K).fill(null),
    };
  }

  weights(_step?: number): Float64Array {
    return Float64Array.from(this.s.weights);
  }

  update(fb: StepFeedback): void {
    const cur = this.s;
    const present = checkFeedback(fb, this.domains, cur.last_step);
    const K = this.K,
      t = fb.step,
      prm = this.prm;
    // n_k and h: data seen and the EMA of this step's composition.
    const counts = new Float64Array(K);
    for (const s of present) counts[s.index] = s.tokens;
    const total = counts.reduce((a, b) => a + b, 0);
    const seen = Float64Array.from(cur.seen, (x, i) => x + (prm.same_step_size ? total : counts[i]));
    const h = total > 0 ? Float64Array.from(cur.h, (x, i) => prm.gamma * x + (1 - prm.gamma) * (counts[i] / total)) : cur.h;
    // Per-domain loss this step: observed, else last seen, else the step's mean.
    const last_loss = Float64Array.from(cur.last_loss);
    const stepMean = present.length ? present.reduce((a, s) => a + s.loss, 0) / present.length : -1;
    for (const s of present) last_loss[s.index] = s.loss;
    const loss = Float64Array.from(last_loss, (l) => (l >= 0 ? l : stepMean));
    if (!allFinite(seen) || !allFinite(loss)) throw new MixerInputError("*", "tokens", "overflow", "token or loss totals overflow");
    // Smoothing: a history point is the mean loss of `subsample` steps.
    let win_loss = cur.win_loss,
      win_count = cur.win_count,
      history = cur.history;
    if (t >= prm.ignore_steps && loss.every((l) => l >= 0)) {
      win_loss = Float64Array.from(win_loss, (x, i) => x + loss[i]);
      win_count += 1;
      if (win_count === prm.subsample) {
        history = history.map((hs, i) => {
          if (!(seen[i] > 0) || !(win_loss[i] > 0)) return hs;
          let n = [...hs.n, seen[i]],
            l = [...hs.loss, win_loss[i] / win_count];
          if (n.length > prm.max_points) {
            n = n.filter((_, j) => j % 2 === 1);
            l = l.filter((_, j) => j % 2 === 1);
          }
          return { n, loss: l };
        });
        win_loss = new Float64Array(K);
        win_count = 0;
      }
    }
    // Refit L̂_k(n) = e^{E_k} + e^{A_k} n^{−α_k} every update_every steps.
    let laws = cur.laws;
    if (t >= prm.start_step && t % prm.update_every === 0) {
      const prev = laws;
      laws = history.map((hs, i) => {
        const fit = fitAdoLaw(hs.n, hs.loss);
        return fit ? Array.from(fit) : prev[i]; // a failed refit keeps the last good law
      });
    }
    // p = 0.9 p̄ + 0.1 dist with the OLD p̄, then p̄ ← (1 − 1/(t+1)) p̄ + dist/(t+1).
    let weights = cur.weights,
      p_avg = cur.p_avg;
    const dist = t >= prm.start_step ? this.policy(laws, seen, h) : null;
    if (dist) {
      weights = smooth(
        Float64Array.from(p_avg, (a, i) => (1 - prm.mix) * a + prm.mix * dist[i]),
        prm.eps,
      );
      p_avg = Float64Array.from(p_avg, (a, i) => (1 - 1 / (t + 1)) * a + dist[i] / (t + 1));
      if (!allFinite(weights)) throw new MixerInputError("*", "loss_sum", vec(loss), "ADO policy is not finite");
    }
    this.s = { weights, p_avg, h, seen, last_loss, win_loss, win_count, last_step: t, history, laws };
  }

  /** The normalised, floored score distribution, or null while any domain has no law or no data. */
  private policy(laws: (number[] | null)[], seen: Float64Array, h: Float64Array): Float64Array | null {
    const score = new Float64Array(this.K);
    for (let i = 0; i < this.K; i++) {
      const law = laws[i];
      if (!law || !(seen[i] > 0)) return null;
      const [A, , alpha] = law;
      const reducible = Math.exp(A - alpha * Math.log(seen[i])); // L̂(n) − e^E
      score[i] = ((Math.max(alpha, this.prm.min_exponent) * reducible) / seen[i]) * this.rho[i] * Math.sqrt(h[i] * (1 - h[i]));
    }
    const sum = score.reduce((a, b) => a + b, 0);
    if (!(sum > 0) || !Number.isFinite(sum)) return null;
    return clipMinProbability(normalize(score), this.prm.min_prob);
  }

  state(): MixerState {
    const s = this.s;
    return {
      name: this.name,
      weights: vec(s.weights),
      p_avg: vec(s.p_avg),
      h: vec(s.h),
      seen: vec(s.seen),
      last_loss: vec(s.last_loss),
      win_loss: vec(s.win_loss),
      win_count: s.win_count,
      last_step: s.last_step,
      history: s.history.map((x) => ({ n: [...x.n], loss: [...x.loss] })),
      laws: s.laws.map((l) => (l ? [...l] : null)),
    };
  }

  restore(blob: MixerState): void {
    const r = new StateReader(blob, this.name, this.K);
    this.s = {
      weights: r.vec("weights"),
      p_avg: r.vec("p_avg"),
      h: r.vec("h"),
      seen: r.vec("seen"),
      last_loss: r.vec("last_loss"),
      win_loss: r.vec("win_loss"),
      win_count: r.num("win_count"),
      last_step: r.num("last_step"),
      history: r.perDomain("history", (x, at) => r.series(x, at, ["n", "loss"], false)),
      laws: r.perDomain("laws", (l, at) => {
        if (l === null) return null;
        if (!Array.isArray(l) || l.length !== 3 || !l.every((v) => typeof v === "number" && Number.isFinite(v)))
          r.fail(at, "expected null or 3 finite numbers (A, E, α)");
        return [...(l as number[])];
      }),
    };
  }

  describe(): Record<string, unknown> {
    return {
      name: this.name,
      floor: this.prm.eps / this.K,
      ...this.prm,
      laws: Object.fromEntries(
        this.domains.map((d, i) => {
          const l = this.s.laws[i];
          return [d.name, l ? { irreducible: Math.exp(l[1]), scale: Math.exp(l[0]), exponent: l[2], points: this.s.history[i].n.length } : null];
        }),
      ),
    };
  }
}
