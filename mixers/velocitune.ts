/**
 * `velocitune`: velocity-based domain reweighting (Luo et al., ACL 2025, arXiv 2411.14318,
 * §3). Each domain's learning velocity is its remaining fraction of the way to a target loss:
 *   V_i = clamp((ℓ_i(t) − ℓ_i^target) / (ℓ_i(0) − ℓ_i^target), 0, 1)    1 = no progress, 0 = done
 *   w_i ← w_i · exp(η V_i) / Σ_j w_j · exp(η V_j)       every m steps (slow domains gain)
 *   w   ← (1 − ε) w + ε/K
 * (the exponentiated-gradient step of DoReMi with g = η V: common.ts `expGradStep`).
 * The target comes from a Chinchilla-style law per domain with the model size held fixed,
 *   L(D) = E + B / D^β,
 * fitted by bounded Levenberg–Marquardt (fit.ts `fitDataLaw`, mathjs) and extrapolated to the planned
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
import { allFinite, byName, checkFeedback, expGradStep, uniformWeights, vec } from "./common.js";
import { ConfigError, MixerInputError, type DomainInfo, type Mixer, type MixerState, type StepFeedback } from "./contract.js";
import { fitDataLaw, lawAt, type LawFit } from "./fit.js";
import { StateReader } from "./state.js";

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

/** Which loss measured ℓ_i(t) in the last window (reported in describe().signals). */
const SIGNALS = ["none", "eval_loss", "train_loss"] as const;
type Signal = (typeof SIGNALS)[number];

/** Everything Velocitune changes while it runs. state() writes it as JSON under these keys. */
interface VelocituneState {
  /** w, the sampling weights. */
  weights: Float64Array;
  last_step: number;
  /** D, training tokens seen so far (the x of the online law fits). */
  tokens_seen: number;
  /** Steps folded into the current window (0 … m − 1). */
  in_window: number;
  /** The open window's Σ loss_sum, Σ tokens and last eval_loss (−1 = none) per domain. */
  win_loss: Float64Array;
  win_tokens: Float64Array;
  win_eval: Float64Array;
  /** ℓ_i(t), the last measured loss (−1 = never); ℓ_i(0) (−1 = not yet); V_i. */
  loss: Float64Array;
  init: Float64Array;
  velocity: Float64Array;
  signals: Signal[];
  /** ⟨D, ℓ_i⟩ at every window end where domain i was measured; append-only. */
  history: { d: number[]; loss: number[] }[];
  /** The last good online fit per domain (null: fixed target, or fewer than 4 points so far). */
  online_fits: (LawFit | null)[];
}

export class VelocituneMixer implements Mixer {
  readonly name = "velocitune";
  readonly needsFeedback = true;
  private readonly K: number;
  private readonly fixedTarget: Float64Array; // NaN = none (explicit target or proxy extrapolation)
  private readonly proxyFits: (LawFit | null)[];
  private s: VelocituneState;

  constructor(
    private readonly domains: readonly DomainInfo[],
    private readonly p: VelocituneParams,
  ) {
    const K = (this.K = domains.length);
    this.fixedTarget = new Float64Array(K).fill(NaN);
    this.proxyFits = new Array<LawFit | null>(K).fill(null);
    if (p.proxy) {
      if (p.target_tokens === undefined) throw new ConfigError("mixer.params.target_tokens", "proxy fits are extrapolated to target_tokens; give it");
      const idx = byName(Object.fromEntries(Object.keys(p.proxy).map((k) => [k, 1])), domains, "mixer.params.proxy", 0);
      domains.forEach((d, i) => {
        if (!idx[i]) return;
        const c = p.proxy![d.name];
        if (c.tokens.length !== c.loss.length)
          throw new ConfigError(`mixer.params.proxy.${d.name}.loss`, `${c.loss.length} losses for ${c.tokens.length} token counts`);
        const fit = fitDataLaw(c.tokens, c.loss);
        this.proxyFits[i] = fit;
        this.fixedTarget[i] = lawAt(fit, p.target_tokens!);
      });
    }
    if (p.targets)
      byName(p.targets, domains, "mixer.params.targets", NaN).forEach((v, i) => {
        if (!Number.isNaN(v)) this.fixedTarget[i] = v;
      });
    if (this.fixedTarget.some(Number.isNaN) && p.target_tokens === undefined) {
      throw new ConfigError(
        "mixer.params.target_tokens",
        "domains without a target or proxy curve are fitted online and extrapolated to target_tokens; give it",
      );
    }
    const init = new Float64Array(K).fill(-1);
    if (p.initial_losses) byName(p.initial_losses, domains, "mixer.params.initial_losses", -1).forEach((v, i) => (init[i] = v));
    this.s = {
      weights: uniformWeights(K),
      last_step: -1,
      tokens_seen: 0,
      in_window: 0,
      ...emptyWindow(K),
      loss: new Float64Array(K).fill(-1),
      init,
      velocity: new Float64Array(K).fill(1),
      signals: new Array<Signal>(K).fill("none"),
      history: domains.map(() => ({ d: [], loss: [] })),
      online_fits: new Array<LawFit | null>(K).fill(null),
    };
  }

  weights(_step?: number): Float64Array {
    return Float64Array.from(this.s.weights);
  }

  update(fb: StepFeedback): void {
    const present = checkFeedback(fb, this.domains, this.s.last_step);
    const cur = this.s;
    // Work on copies; commit at the end.
    const win_loss = Float64Array.from(cur.win_loss),
      win_tokens = Float64Array.from(cur.win_tokens),
      win_eval = Float64Array.from(cur.win_eval);
    let tokens_seen = cur.tokens_seen;
    for (const s of present) {
      win_loss[s.index] += s.loss_sum;
      win_tokens[s.index] += s.tokens;
      if (s.eval_loss !== undefined) win_eval[s.index] = s.eval_loss;
      tokens_seen += s.tokens;
    }
    const in_window = cur.in_window + 1;
    if (!allFinite(win_loss) || !Number.isFinite(tokens_seen)) throw new MixerInputError("*", "loss_sum", "overflow", "window sums overflow");
    if (in_window < this.p.update_every) {
      this.s = { ...cur, win_loss, win_tokens, win_eval, tokens_seen, in_window, last_step: fb.step };
      return;
    }
    // Window complete: measure ℓ_i (the last eval_loss, else Σ loss_sum / Σ tokens), set ℓ_i(0) on first sight.
    const loss = Float64Array.from(cur.loss),
      init = Float64Array.from(cur.init);
    const signals = [...cur.signals];
    const fresh = new Array<boolean>(this.K).fill(false);
    for (let i = 0; i < this.K; i++) {
      let l = -1;
      if (win_eval[i] >= 0) {
        l = win_eval[i];
        signals[i] = "eval_loss";
      } else if (win_tokens[i] > 0) {
        l = win_loss[i] / win_tokens[i];
        signals[i] = "train_loss";
      }
      if (l < 0) continue;
      loss[i] = l;
      if (init[i] < 0) init[i] = l;
      fresh[i] = true;
    }
    // ℓ_i^target: fixed, else refit L(D) = E + B/D^β on the run's own history (≥ 4 points) and extrapolate.
    const online_fits = cur.online_fits.map((f, i) => {
      const h = cur.history[i];
      if (!Number.isNaN(this.fixedTarget[i]) || h.d.length + (fresh[i] ? 1 : 0) < 4) return f;
      const fit = fresh[i] ? fitDataLaw([...h.d, tokens_seen], [...h.loss, loss[i]]) : fitDataLaw(h.d, h.loss);
      return [fit.E, fit.B, fit.beta].every(Number.isFinite) ? fit : f;
    });
    const target = Float64Array.from(this.fixedTarget, (t, i) => (Number.isNaN(t) && online_fits[i] ? lawAt(online_fits[i]!, this.p.target_tokens!) : t));
    // V_i = clamp((ℓ_i − ℓ_i^target) / (ℓ_i(0) − ℓ_i^target), 0, 1); w ← (1 − ε)·softmax(log w + η V) + ε/K.
    let weights = cur.weights,
      velocity = cur.velocity;
    if (!target.some(Number.isNaN) && loss.every((l) => l >= 0)) {
      velocity = Float64Array.from(loss, (l, i) => {
        const span = init[i] - target[i];
        return span > 0 ? Math.min(Math.max((l - target[i]) / span, 0), 1) : 0;
      });
      const step = expGradStep(
        cur.weights,
        Float64Array.from(velocity, (v) => this.p.eta * v),
        this.p.eps,
      );
      if (!("weights" in step)) throw new MixerInputError("*", "loss_sum", vec(loss), "velocity update is not finite");
      weights = step.weights;
    }
    // Commit. History is appended in place (append-only, so nothing is copied per window; a throw above left it untouched).
    fresh.forEach((f, i) => {
      if (f) {
        cur.history[i].d.push(tokens_seen);
        cur.history[i].loss.push(loss[i]);
      }
    });
    this.s = {
      weights,
      last_step: fb.step,
      tokens_seen,
      in_window: 0,
      ...emptyWindow(this.K),
      loss,
      init,
      velocity,
      signals,
      history: cur.history,
      online_fits,
    };
  }

  state(): MixerState {
    const s = this.s;
    return {
      name: this.name,
      weights: vec(s.weights),
      last_step: s.last_step,
      tokens_seen: s.tokens_seen,
      in_window: s.in_window,
      win_loss: vec(s.win_loss),
      win_tokens: vec(s.win_tokens),
      win_eval: vec(s.win_eval),
      loss: vec(s.loss),
      init: vec(s.init),
      velocity: vec(s.velocity),
      signals: [...s.signals],
      history: s.history.map((h) => ({ d: [...h.d], loss: [...h.loss] })),
      online_fits: s.online_fits.map((f) => (f ? { ...f, residuals: [...f.residuals] } : null)),
    };
  }

  restore(blob: MixerState): void {
    const r = new StateReader(blob, this.name, this.K);
    this.s = {
      weights: r.vec("weights"),
      last_step: r.num("last_step"),
      tokens_seen: r.num("tokens_seen"),
      in_window: r.num("in_window"),
      win_loss: r.vec("win_loss"),
      win_tokens: r.vec("win_tokens"),
      win_eval: r.vec("win_eval"),
      loss: r.vec("loss"),
      init: r.vec("init"),
      velocity: r.vec("velocity"),
      signals: r.labels("signals", SIGNALS),
      history: r.perDomain("history", (h, at) => r.series(h, at, ["d", "loss"], true)),
      online_fits: r.perDomain("online_fits", (f, at) => (f === null ? null : readLawFit(r, f, at))),
    };
  }

  describe(): Record<string, unknown> {
    const per = (f: (i: number) => unknown) => Object.fromEntries(this.domains.map((d, i) => [d.name, f(i)]));
    const s = this.s;
    return {
      name: this.name,
      floor: this.p.eps / this.K,
      update_every: this.p.update_every,
      eta: this.p.eta,
      eps: this.p.eps,
      target_tokens: this.p.target_tokens ?? null,
      targets: per((i) =>
        Number.isNaN(this.fixedTarget[i]) ? (s.online_fits[i] ? lawAt(s.online_fits[i]!, this.p.target_tokens!) : null) : this.fixedTarget[i],
      ),
      laws: per((i) => {
        const f = this.proxyFits[i] ?? s.online_fits[i];
        return f ? { source: this.proxyFits[i] ? "proxy" : "online", E: f.E, B: f.B, beta: f.beta, rmse: f.rmse, residuals: f.residuals } : null;
      }),
      initial_losses: per((i) => (s.init[i] >= 0 ? s.init[i] : null)),
      velocity: per((i) => s.velocity[i]),
      signals: per((i) => s.signals[i]),
    };
  }
}

/** A fresh window: nothing summed, no eval_loss seen. */
function emptyWindow(K: number): Pick<VelocituneState, "win_loss" | "win_tokens" | "win_eval"> {
  return { win_loss: new Float64Array(K), win_tokens: new Float64Array(K), win_eval: new Float64Array(K).fill(-1) };
}

/**
 * One saved online fit. E, B and β must be finite (a fit is only kept when they are); rmse and
 * the residuals are report-only and may be null, the JSON form of a non-finite value.
 */
function readLawFit(r: StateReader, f: unknown, at: string): LawFit {
  const x = r.record(f, at, ["E", "B", "beta"], ["rmse"]);
  const res = x.residuals;
  if (!Array.isArray(res) || !res.every((v) => typeof v === "number" || v === null)) r.fail(`${at}.residuals`, "expected an array of numbers");
  return { ...(x as unknown as LawFit), residuals: [...(res as number[])] };
}
