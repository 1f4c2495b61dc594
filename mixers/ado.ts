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
import { ConfigError } from "../src/util/errors.js";
import { allFinite, checkFeedback, naturalWeights, normalize, readName, readNum, readVec, smooth, vec } from "./common.js";
import { bestOf } from "./fit.js";
import { MixerInputError, type DomainInfo, type Mixer, type MixerState, type StepFeedback } from "./types.js";

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
  const lnn = n.map(Math.log), y = L.map(Math.log);
  const ls = {
    n: m, p: 3,
    evaluate(t: Float64Array, r: Float64Array, J: Float64Array | null) {
      for (let i = 0; i < m; i++) {
        const a = t[0] - t[2] * lnn[i], e = t[1], mx = Math.max(a, e);
        const ea = Math.exp(a - mx), ee = Math.exp(e - mx), z = ea + ee;
        r[i] = mx + Math.log(z) - y[i];
        if (J) { const fa = ea / z; J[3 * i] = fa; J[3 * i + 1] = 1 - fa; J[3 * i + 2] = -lnn[i] * fa; }
      }
    },
  };
  const minL = Math.min(...L), maxL = Math.max(...L), meanLnn = lnn.reduce((a, b) => a + b, 0) / m;
  const starts: number[][] = [];
  for (const alpha of [0.1, 0.3, 0.6]) for (const f of [0.5, 0.9]) starts.push([Math.log(Math.max(maxL - f * minL, 1e-9)) + alpha * meanLnn, Math.log(f * minL), alpha]);
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

interface Series { n: number[]; loss: number[] }

export class AdoMixer implements Mixer {
  readonly name = "ado";
  readonly needsFeedback = true;
  private readonly K: number;
  private readonly rho: Float64Array;
  private p: Float64Array;
  private pAvg: Float64Array;
  private h: Float64Array;
  private seen: Float64Array; // n_k
  private lastLoss: Float64Array; // −1 = none yet
  private winLoss: Float64Array;
  private winCount = 0;
  private history: Series[];
  private laws: (number[] | null)[];
  private lastStep = -1;

  constructor(private readonly domains: readonly DomainInfo[], private readonly prm: AdoParams) {
    const K = (this.K = domains.length);
    if (prm.min_prob * K > 1) throw new ConfigError("mixer.params.min_prob", `K·min_prob = ${prm.min_prob * K} > 1`);
    this.rho = naturalWeights(domains);
    this.p = smooth(this.rho, prm.eps);
    this.pAvg = Float64Array.from(this.rho);
    this.h = Float64Array.from(this.rho);
    this.seen = new Float64Array(K);
    this.lastLoss = new Float64Array(K).fill(-1);
    this.winLoss = new Float64Array(K);
    this.history = domains.map(() => ({ n: [], loss: [] }));
    this.laws = new Array<number[] | null>(K).fill(null);
  }

  weights(_step?: number): Float64Array {
    return Float64Array.from(this.p);
  }

  update(fb: StepFeedback): void {
    const present = checkFeedback(fb, this.domains, this.lastStep);
    const K = this.K, t = fb.step, prm = this.prm;
    const counts = new Float64Array(K);
    for (const s of present) counts[s.index] = s.tokens;
    const total = counts.reduce((a, b) => a + b, 0);
    const seen = Float64Array.from(this.seen, (x, i) => x + (prm.same_step_size ? total : counts[i]));
    const h = total > 0 ? Float64Array.from(this.h, (x, i) => prm.gamma * x + (1 - prm.gamma) * (counts[i] / total)) : this.h;
    // Per-domain loss this step: observed, else last seen, else the step's mean.
    const lastLoss = Float64Array.from(this.lastLoss);
    const stepMean = present.length ? present.reduce((a, s) => a + s.loss, 0) / present.length : -1;
    for (const s of present) lastLoss[s.index] = s.loss;
    const loss = Float64Array.from(lastLoss, (l) => (l >= 0 ? l : stepMean));
    if (!allFinite(seen) || !allFinite(loss)) throw new MixerInputError("*", "tokens", "overflow", "token or loss totals overflow");
    let winLoss = this.winLoss, winCount = this.winCount, history = this.history;
    if (t >= prm.ignore_steps && loss.every((l) => l >= 0)) {
      winLoss = Float64Array.from(winLoss, (x, i) => x + loss[i]);
      winCount += 1;
      if (winCount === prm.subsample) {
        history = history.map((hs, i) => {
          if (!(seen[i] > 0) || !(winLoss[i] > 0)) return hs;
          let n = [...hs.n, seen[i]], l = [...hs.loss, winLoss[i] / winCount];
          if (n.length > prm.max_points) { n = n.filter((_, j) => j % 2 === 1); l = l.filter((_, j) => j % 2 === 1); }
          return { n, loss: l };
        });
        winLoss = new Float64Array(K);
        winCount = 0;
      }
    }
    let laws = this.laws;
    if (t >= prm.start_step && t % prm.update_every === 0) {
      const prev = laws;
      laws = history.map((hs, i) => {
        const fit = fitAdoLaw(hs.n, hs.loss);
        return fit ? Array.from(fit) : prev[i]; // a failed refit keeps the last good law
      });
    }
    let p = this.p, pAvg = this.pAvg;
    const dist = t >= prm.start_step ? this.policy(laws, seen, h) : null;
    if (dist) {
      p = smooth(Float64Array.from(pAvg, (a, i) => (1 - prm.mix) * a + prm.mix * dist[i]), prm.eps);
      pAvg = Float64Array.from(pAvg, (a, i) => (1 - 1 / (t + 1)) * a + dist[i] / (t + 1));
      if (!allFinite(p)) throw new MixerInputError("*", "loss_sum", vec(loss), "ADO policy is not finite");
    }
    Object.assign(this, { p, pAvg, h, seen, lastLoss, winLoss, winCount, history, laws, lastStep: t });
  }

  /** The normalised, floored score distribution, or null while any domain has no law or no data. */
  private policy(laws: (number[] | null)[], seen: Float64Array, h: Float64Array): Float64Array | null {
    const score = new Float64Array(this.K);
    for (let i = 0; i < this.K; i++) {
      const law = laws[i];
      if (!law || !(seen[i] > 0)) return null;
      const [A, , alpha] = law;
      const reducible = Math.exp(A - alpha * Math.log(seen[i])); // L̂(n) − e^E
      score[i] = (Math.max(alpha, this.prm.min_exponent) * reducible / seen[i]) * this.rho[i] * Math.sqrt(h[i] * (1 - h[i]));
    }
    const sum = score.reduce((a, b) => a + b, 0);
    if (!(sum > 0) || !Number.isFinite(sum)) return null;
    return clipMinProbability(normalize(score), this.prm.min_prob);
  }

  state(): MixerState {
    return {
      name: this.name, weights: vec(this.p), p_avg: vec(this.pAvg), h: vec(this.h), seen: vec(this.seen), last_loss: vec(this.lastLoss),
      win_loss: vec(this.winLoss), win_count: this.winCount, last_step: this.lastStep,
      history: this.history.map((s) => ({ n: [...s.n], loss: [...s.loss] })), laws: this.laws.map((l) => (l ? [...l] : null)),
    };
  }

  restore(s: MixerState): void {
    readName(s, this.name);
    const K = this.K;
    const nums = (a: unknown): a is number[] => Array.isArray(a) && a.every((x) => typeof x === "number" && Number.isFinite(x));
    const hist = s.history, laws = s.laws;
    if (!Array.isArray(hist) || hist.length !== K || !hist.every((x) => nums(x?.n) && nums(x?.loss))) throw new ConfigError("mixer.state.history", `expected ${K} {n, loss} series`);
    if (!Array.isArray(laws) || laws.length !== K || !laws.every((l) => l === null || (nums(l) && l.length === 3))) throw new ConfigError("mixer.state.laws", `expected ${K} laws or nulls`);
    Object.assign(this, {
      p: readVec(s, "weights", K), pAvg: readVec(s, "p_avg", K), h: readVec(s, "h", K), seen: readVec(s, "seen", K), lastLoss: readVec(s, "last_loss", K),
      winLoss: readVec(s, "win_loss", K), winCount: readNum(s, "win_count"), lastStep: readNum(s, "last_step"),
      history: (hist as Series[]).map((x) => ({ n: [...x.n], loss: [...x.loss] })), laws: (laws as (number[] | null)[]).map((l) => (l ? [...l] : null)),
    });
  }

  describe(): Record<string, unknown> {
    return {
      name: this.name,
      floor: this.prm.eps / this.K,
      ...this.prm,
      laws: Object.fromEntries(this.domains.map((d, i) => {
        const l = this.laws[i];
        return [d.name, l ? { irreducible: Math.exp(l[1]), scale: Math.exp(l[0]), exponent: l[2], points: this.history[i].n.length } : null];
      })),
    };
  }
}
