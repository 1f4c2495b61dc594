/**
 * Shared pieces: feedback validation (done in full before any mixer mutates), simplex
 * arithmetic, and the exponentiated-gradient step DoReMi, DoGE and Velocitune share.
 * Reading a resume state back is in state.ts.
 */
import { ConfigError, MixerInputError, type DomainFeedback, type DomainInfo, type StepFeedback } from "./contract.js";

/** A validated domain entry of one step. `loss` is the mean training loss loss_sum/tokens. */
export interface Signal extends DomainFeedback {
  index: number;
  loss: number;
}

const NONNEG_OPTIONAL = ["excess_loss_sum", "ref_loss_sum", "eval_loss"] as const;

function finite(x: unknown): x is number {
  return typeof x === "number" && Number.isFinite(x);
}

/**
 * Check a whole step before anything changes. Returns the present domains (tokens > 0) in index order.
 * `lastStep` enforces strictly increasing steps, which is what makes replay of recorded feedback exact.
 */
export function checkFeedback(fb: StepFeedback, domains: readonly DomainInfo[], lastStep: number): Signal[] {
  if (!Number.isSafeInteger(fb.step) || fb.step < 0) throw new MixerInputError("*", "step", fb.step, "must be a non-negative integer");
  if (fb.step <= lastStep) throw new MixerInputError("*", "step", fb.step, `must be greater than the last folded step ${lastStep}`);
  if (fb.lr !== undefined && !(finite(fb.lr) && fb.lr >= 0)) throw new MixerInputError("*", "lr", fb.lr);
  if (!(fb.domains instanceof Map)) throw new MixerInputError("*", "domains", fb.domains, "must be a Map of domain index to signals");
  const out: Signal[] = [];
  for (const [k, d] of fb.domains) {
    if (!Number.isInteger(k) || k < 0 || k >= domains.length)
      throw new MixerInputError(`#${String(k)}`, "domain", k, `unknown domain index (K = ${domains.length})`);
    const name = domains[k].name;
    if (typeof d !== "object" || d === null) throw new MixerInputError(name, "signals", d, "must be an object");
    if (!(finite(d.loss_sum) && d.loss_sum >= 0)) throw new MixerInputError(name, "loss_sum", d.loss_sum);
    if (!(Number.isSafeInteger(d.tokens) && d.tokens >= 0)) throw new MixerInputError(name, "tokens", d.tokens, "must be a non-negative integer");
    for (const f of NONNEG_OPTIONAL) {
      const v = d[f];
      if (v !== undefined && !(finite(v) && v >= 0)) throw new MixerInputError(name, f, v);
    }
    if (d.grad_alignment !== undefined && !finite(d.grad_alignment)) throw new MixerInputError(name, "grad_alignment", d.grad_alignment, "must be finite");
    // Fields copied by hand: object spread is ~2 µs per entry in V8 here, the whole update budget.
    // `+ 0` turns −0 into 0 (JSON has no −0; a saved state must equal its round trip).
    if (d.tokens > 0) {
      out.push({
        index: k,
        loss: d.loss_sum / d.tokens + 0,
        loss_sum: d.loss_sum + 0,
        tokens: d.tokens,
        excess_loss_sum: d.excess_loss_sum === undefined ? undefined : d.excess_loss_sum + 0,
        ref_loss_sum: d.ref_loss_sum === undefined ? undefined : d.ref_loss_sum + 0,
        grad_alignment: d.grad_alignment === undefined ? undefined : d.grad_alignment + 0,
        eval_loss: d.eval_loss === undefined ? undefined : d.eval_loss + 0,
      });
    }
  }
  return out.sort((a, b) => a.index - b.index);
}

/** exp(x − max) / Σ: a softmax that cannot overflow for finite logits. */
export function softmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  const out = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < out.length; i++) sum += out[i] = Math.exp(logits[i] - max);
  for (let i = 0; i < out.length; i++) out[i] /= sum;
  return out;
}

/** α ← (1 − c)·α + c/K: the ε/K smoothing every paper uses; it is also what guarantees the floor c/K. */
export function smooth(w: Float64Array, c: number): Float64Array {
  const K = w.length;
  const out = new Float64Array(K);
  for (let i = 0; i < K; i++) out[i] = (1 - c) * w[i] + c / K;
  return out;
}

export function normalize(w: ArrayLike<number>): Float64Array {
  let sum = 0;
  for (let i = 0; i < w.length; i++) sum += w[i];
  const out = new Float64Array(w.length);
  for (let i = 0; i < w.length; i++) out[i] = w[i] / sum;
  return out;
}

export const uniformWeights = (K: number): Float64Array => new Float64Array(K).fill(1 / K);

/** Natural proportions ∝ DomainInfo.tokens (uniform if every count is 0). */
export function naturalWeights(domains: readonly DomainInfo[]): Float64Array {
  const total = domains.reduce((s, d) => s + d.tokens, 0);
  return total > 0 ? normalize(domains.map((d) => d.tokens)) : uniformWeights(domains.length);
}

/** Every entry finite: the last check before a mixer commits new weights. */
export function allFinite(xs: ArrayLike<number>): boolean {
  for (let i = 0; i < xs.length; i++) if (!Number.isFinite(xs[i])) return false;
  return true;
}

/**
 * One exponentiated-gradient (mirror-descent) step on the simplex, then the ε/K smoothing:
 *   α' = softmax(log α + g)        i.e. α'_i ∝ α_i · exp(g_i)
 *   α  ← (1 − ε) α' + ε/K
 * The step DoReMi (Algorithm 1, lines 8–9: g = η λ), DoGE (Eq. 5–6: g = clipped score / μ)
 * and Velocitune (g = η V) take; each mixer computes its own g and says why.
 *
 * Bad steps are the caller's to name, so they come back as a result instead of a throw:
 * `overflow` is the first domain whose logit is NaN or +∞ (−∞ is fine: a weight that is
 * exactly 0, possible when ε = 0), `notFinite` a result that is not finite anyway.
 */
export function expGradStep(alpha: Float64Array, g: ArrayLike<number>, eps: number): { weights: Float64Array } | { overflow: number } | { notFinite: true } {
  const logits = Float64Array.from(alpha, (a, i) => Math.log(a) + g[i]);
  const overflow = logits.findIndex((x) => Number.isNaN(x) || x === Infinity);
  if (overflow >= 0) return { overflow };
  const weights = smooth(softmax(logits), eps);
  return allFinite(weights) ? { weights } : { notFinite: true };
}

/** Running mean of weights (DoReMi's avg_domain_weights, DoGE's avg_dw): avg ← avg + (w − avg)/n. */
export function runningMean(avg: Float64Array, w: Float64Array, n: number): Float64Array {
  const out = new Float64Array(avg.length);
  for (let i = 0; i < avg.length; i++) out[i] = avg[i] + (w[i] - avg[i]) / n;
  return out;
}

/** Map a `{domain name: value}` config object onto a length-K vector; unknown names are a ConfigError at `path`. */
export function byName(map: Record<string, number>, domains: readonly DomainInfo[], path: string, fill: number): Float64Array {
  const idx = new Map(domains.map((d, i) => [d.name, i]));
  const out = new Float64Array(domains.length).fill(fill);
  for (const [name, v] of Object.entries(map)) {
    const i = idx.get(name);
    if (i === undefined) throw new ConfigError(`${path}.${name}`, `unknown domain "${name}" (known: ${[...idx.keys()].join(", ")})`);
    out[i] = v;
  }
  return out;
}

/**
 * A state vector as plain numbers. −0 becomes 0: JSON has no −0 (`JSON.stringify(-0)` is "0"),
 * and a state must read the same before and after a JSON round trip (a −0 signal, e.g. a
 * grad_alignment of −0, changes no weight).
 */
export const vec = (w: Float64Array): number[] => Array.from(w, (x) => x + 0);
