/**
 * `velocitune`: velocity-based domain reweighting (Luo et al., ACL 2025, arXiv 2411.14318,
 * §3). Each domain's learning velocity is its remaining fraction of the way to a target loss:
 *   V_i = clamp((ℓ_i(t) − ℓ_i^target) / (ℓ_i(0) − ℓ_i^target), 0, 1)    1 = no progress, 0 = done
 *   w_i ← w_i · exp(η V_i) / Σ_j w_j · exp(η V_j)       every m steps (slow domains gain)
 *   w   ← (1 − ε) w + ε/K
 * The target comes from a Chinchilla-style law per domain with the model size held fixed,
 *   L(D) = E + B / D^β,
 * fitted by bounded Levenberg–Marquardt (fit.ts, mathjs) and extrapolated to the planned
 * budget D* = params.target_tokens (total training tokens of the run).
 *
 * Sources: no official code is public. The arXiv/ACL pages reachable from here gave the
 * abstract and third-party notes (papernotes.org, sciencestack.ai TL;DR), which agree on
 * "learning velocity from initial and scaling-law target losses" and an "exponential,
 * Group-DRO-like" update; the method section itself was not reachable, so η (default 1,
 * i.e. the plain rule) and the floor ε (default 0) are mixload additions, and m's default
 * (100) is ours.
 *
 * In mixload:
 * - ℓ_i(t) per window of m steps is the LAST held-out `eval_loss` sent in the window when
 *   the trainer sends one (the paper evaluates held-out data every m steps), else the
 *   window's training loss Σ loss_sum / Σ tokens; `signals` reports which one was used.
 * - ℓ_i(0) = params.initial_losses, else the first window's loss (so the first update
 *   leaves the weights unchanged: every V_i = 1).
 * - ℓ_i^target = params.targets, else extrapolated from params.proxy (checkpoints of a
 *   proxy run, fitted once at construction), else from the run's own ⟨D, ℓ_i⟩ history
 *   (refitted every window once 4 points exist; until then the weights do not move).
 * - A domain without signal in a window reuses its last loss.
 */
import { z } from "zod";
import { ConfigError } from "../src/util/errors.js";
import { allFinite, byName, checkFeedback, readName, readNum, readVec, smooth, softmax, uniformWeights, vec } from "./common.js";
import { bestOf } from "./fit.js";
import { MixerInputError, type DomainInfo, type Mixer, type MixerState, type StepFeedback } from "./types.js";

const curve = z.object({ tokens: z.array(z.number().finite().positive()).min(3), loss: z.array(z.number().finite().positive()).min(3) }).strict();

export const velocituneSchema = z
  .object({
    update_every: z.number().int().positive().default(100),
    eta: z.number().finite().positive().default(1),
    eps: z.number().min(0).max(1).default(0),
    target_tokens: z.number().finite().positive().optional(),
    targets: z.record(z.string(), z.number().finite().nonnegative()).optional(),
    initial_losses: z.record(z.string(), z.number().finite().nonnegative()).optional(),
    proxy: z.record(z.string(), curve).optional(),
  })
  .strict();
export type VelocituneParams = z.infer<typeof velocituneSchema>;

export interface LawFit {
  E: number;
  B: number;
  beta: number;
  rmse: number;
  residuals: number[];
}

/** Fit L(D) = E + B·D^{−β} (θ = E, ln B, β; 0 ≤ E ≤ min L, 0 ≤ β ≤ 3) from a few starts. */
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
        if (J) { J[3 * i] = 1; J[3 * i + 1] = q; J[3 * i + 2] = -lnD[i] * q; }
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

const lawAt = (f: LawFit, D: number): number => f.E + f.B * Math.pow(D, -f.beta);

type Signal = "none" | "eval_loss" | "train_loss";

export class VelocituneMixer implements Mixer {
  readonly name = "velocitune";
  readonly needsFeedback = true;
  private readonly K: number;
  private readonly fixedTarget: Float64Array; // NaN = none (explicit target or proxy extrapolation)
  private readonly proxyFits: (LawFit | null)[];
  private w: Float64Array;
  private lastStep = -1;
  private tokensSeen = 0;
  private inWindow = 0;
  private winLoss: Float64Array;
  private winTokens: Float64Array;
  private winEval: Float64Array; // −1 = no eval_loss in this window
  private loss: Float64Array; // last measured ℓ_i, −1 = never
  private init: Float64Array; // ℓ_i(0), −1 = not yet
  private velocity: Float64Array;
  private signals: Signal[];
  private history: { d: number[]; loss: number[] }[];
  private onlineFits: (LawFit | null)[];

  constructor(private readonly domains: readonly DomainInfo[], private readonly p: VelocituneParams) {
    const K = (this.K = domains.length);
    this.fixedTarget = new Float64Array(K).fill(NaN);
    this.proxyFits = new Array<LawFit | null>(K).fill(null);
    if (p.proxy) {
      if (p.target_tokens === undefined) throw new ConfigError("mixer.params.target_tokens", "proxy fits are extrapolated to target_tokens; give it");
      const idx = byName(Object.fromEntries(Object.keys(p.proxy).map((k) => [k, 1])), domains, "mixer.params.proxy", 0);
      domains.forEach((d, i) => {
        if (!idx[i]) return;
        const c = p.proxy![d.name];
        if (c.tokens.length !== c.loss.length) throw new ConfigError(`mixer.params.proxy.${d.name}.loss`, `${c.loss.length} losses for ${c.tokens.length} token counts`);
        const fit = fitDataLaw(c.tokens, c.loss);
        this.proxyFits[i] = fit;
        this.fixedTarget[i] = lawAt(fit, p.target_tokens!);
      });
    }
    if (p.targets) byName(p.targets, domains, "mixer.params.targets", NaN).forEach((v, i) => { if (!Number.isNaN(v)) this.fixedTarget[i] = v; });
    if (this.fixedTarget.some(Number.isNaN) && p.target_tokens === undefined) {
      throw new ConfigError("mixer.params.target_tokens", "domains without a target or proxy curve are fitted online and extrapolated to target_tokens; give it");
    }
    this.init = new Float64Array(K).fill(-1);
    if (p.initial_losses) byName(p.initial_losses, domains, "mixer.params.initial_losses", -1).forEach((v, i) => (this.init[i] = v));
    this.w = uniformWeights(K);
    this.winLoss = new Float64Array(K);
    this.winTokens = new Float64Array(K);
    this.winEval = new Float64Array(K).fill(-1);
    this.loss = new Float64Array(K).fill(-1);
    this.velocity = new Float64Array(K).fill(1);
    this.signals = new Array<Signal>(K).fill("none");
    this.history = domains.map(() => ({ d: [], loss: [] }));
    this.onlineFits = new Array<LawFit | null>(K).fill(null);
  }

  weights(_step?: number): Float64Array {
    return Float64Array.from(this.w);
  }

  update(fb: StepFeedback): void {
    const present = checkFeedback(fb, this.domains, this.lastStep);
    // Work on copies; commit at the end.
    const winLoss = Float64Array.from(this.winLoss), winTokens = Float64Array.from(this.winTokens), winEval = Float64Array.from(this.winEval);
    let tokensSeen = this.tokensSeen;
    for (const s of present) {
      winLoss[s.index] += s.loss_sum;
      winTokens[s.index] += s.tokens;
      if (s.eval_loss !== undefined) winEval[s.index] = s.eval_loss;
      tokensSeen += s.tokens;
    }
    const inWindow = this.inWindow + 1;
    if (!allFinite(winLoss) || !Number.isFinite(tokensSeen)) throw new MixerInputError("*", "loss_sum", "overflow", "window sums overflow");
    if (inWindow < this.p.update_every) {
      Object.assign(this, { winLoss, winTokens, winEval, tokensSeen, inWindow, lastStep: fb.step });
      return;
    }
    // Window complete: measure ℓ_i, refit, move the weights. History is appended at commit
    // (append-only, so nothing is copied per window; a throw above leaves it untouched).
    const loss = Float64Array.from(this.loss), init = Float64Array.from(this.init);
    const signals = [...this.signals];
    const fresh = new Array<boolean>(this.K).fill(false);
    for (let i = 0; i < this.K; i++) {
      let l = -1;
      if (winEval[i] >= 0) { l = winEval[i]; signals[i] = "eval_loss"; }
      else if (winTokens[i] > 0) { l = winLoss[i] / winTokens[i]; signals[i] = "train_loss"; }
      if (l < 0) continue;
      loss[i] = l;
      if (init[i] < 0) init[i] = l;
      fresh[i] = true;
    }
    const onlineFits = this.onlineFits.map((f, i) => {
      const h = this.history[i];
      if (!Number.isNaN(this.fixedTarget[i]) || h.d.length + (fresh[i] ? 1 : 0) < 4) return f;
      const fit = fresh[i] ? fitDataLaw([...h.d, tokensSeen], [...h.loss, loss[i]]) : fitDataLaw(h.d, h.loss);
      return [fit.E, fit.B, fit.beta].every(Number.isFinite) ? fit : f;
    });
    const target = Float64Array.from(this.fixedTarget, (t, i) => (Number.isNaN(t) && onlineFits[i] ? lawAt(onlineFits[i]!, this.p.target_tokens!) : t));
    let w = this.w, velocity = this.velocity;
    if (!target.some(Number.isNaN) && loss.every((l) => l >= 0)) {
      velocity = Float64Array.from(loss, (l, i) => {
        const span = init[i] - target[i];
        return span > 0 ? Math.min(Math.max((l - target[i]) / span, 0), 1) : 0;
      });
      w = smooth(softmax(Float64Array.from(this.w, (a, i) => Math.log(a) + this.p.eta * velocity[i])), this.p.eps);
      if (!allFinite(w)) throw new MixerInputError("*", "loss_sum", vec(loss), "velocity update is not finite");
    }
    fresh.forEach((f, i) => { if (f) { this.history[i].d.push(tokensSeen); this.history[i].loss.push(loss[i]); } });
    Object.assign(this, {
      w, velocity, loss, init, signals, onlineFits, tokensSeen, lastStep: fb.step, inWindow: 0,
      winLoss: new Float64Array(this.K), winTokens: new Float64Array(this.K), winEval: new Float64Array(this.K).fill(-1),
    });
  }

  state(): MixerState {
    return {
      name: this.name, weights: vec(this.w), last_step: this.lastStep, tokens_seen: this.tokensSeen, in_window: this.inWindow,
      win_loss: vec(this.winLoss), win_tokens: vec(this.winTokens), win_eval: vec(this.winEval),
      loss: vec(this.loss), init: vec(this.init), velocity: vec(this.velocity), signals: [...this.signals],
      history: this.history.map((h) => ({ d: [...h.d], loss: [...h.loss] })),
      online_fits: this.onlineFits.map((f) => (f ? { ...f, residuals: [...f.residuals] } : null)),
    };
  }

  restore(s: MixerState): void {
    readName(s, this.name);
    const K = this.K;
    const hist = s.history, fits = s.online_fits, sig = s.signals;
    const okNums = (a: unknown): a is number[] => Array.isArray(a) && a.every((x) => typeof x === "number" && Number.isFinite(x));
    if (!Array.isArray(hist) || hist.length !== K || !hist.every((h) => okNums(h?.d) && okNums(h?.loss) && h.d.length === h.loss.length)) throw new ConfigError("mixer.state.history", `expected ${K} {d, loss} series`);
    if (!Array.isArray(fits) || fits.length !== K) throw new ConfigError("mixer.state.online_fits", `expected ${K} entries`);
    if (!Array.isArray(sig) || sig.length !== K) throw new ConfigError("mixer.state.signals", `expected ${K} entries`);
    Object.assign(this, {
      w: readVec(s, "weights", K), lastStep: readNum(s, "last_step"), tokensSeen: readNum(s, "tokens_seen"), inWindow: readNum(s, "in_window"),
      winLoss: readVec(s, "win_loss", K), winTokens: readVec(s, "win_tokens", K), winEval: readVec(s, "win_eval", K),
      loss: readVec(s, "loss", K), init: readVec(s, "init", K), velocity: readVec(s, "velocity", K), signals: sig.map(String),
      history: (hist as { d: number[]; loss: number[] }[]).map((h) => ({ d: [...h.d], loss: [...h.loss] })),
      onlineFits: (fits as (LawFit | null)[]).map((f) => (f ? { ...f, residuals: [...f.residuals] } : null)),
    });
  }

  describe(): Record<string, unknown> {
    const per = (f: (i: number) => unknown) => Object.fromEntries(this.domains.map((d, i) => [d.name, f(i)]));
    return {
      name: this.name,
      floor: this.p.eps / this.K,
      update_every: this.p.update_every,
      eta: this.p.eta,
      eps: this.p.eps,
      target_tokens: this.p.target_tokens ?? null,
      targets: per((i) => (Number.isNaN(this.fixedTarget[i]) ? (this.onlineFits[i] ? lawAt(this.onlineFits[i]!, this.p.target_tokens!) : null) : this.fixedTarget[i])),
      laws: per((i) => {
        const f = this.proxyFits[i] ?? this.onlineFits[i];
        return f ? { source: this.proxyFits[i] ? "proxy" : "online", E: f.E, B: f.B, beta: f.beta, rmse: f.rmse, residuals: f.residuals } : null;
      }),
      initial_losses: per((i) => (this.init[i] >= 0 ? this.init[i] : null)),
      velocity: per((i) => this.velocity[i]),
      signals: per((i) => this.signals[i]),
    };
  }
}
