/**
 * `aioli`: online estimation of the linear dynamic mixing law, then exponentiated gradient on
 * it (Chen et al., ICLR 2025, "Aioli: A Unified Optimization Framework for Language Model Data
 * Mixing", Algorithm 1 (Aioli) with its LearnParams subroutine, Algorithm 2).
 *
 * The mixing law (the paper's linear dynamic law in the LMO framework): over a short stretch of
 * training on mixture p, the loss of domain i falls by
 *   (a)  L_i^t − L_i^{t+1} = Σ_j A^t_ij p_j                     A^t: K×K, "how much training on j helps i"
 * and LMO's step on the simplex for "minimise Σ_i L_i" is exponentiated gradient:
 *   (b)  p^t ∝ p^{t−1} ⊙ exp(η Σ_i A^t_i·)                      column sums of A^t
 *
 * A^t is learnt online, once per round of `update_steps` steps. A round starts with
 * LearnParams: `lp_rounds` sweeps over the K domains, each sweep in its own order; probe j
 * trains `lp_steps` steps on the smoothed one-hot mixture
 *   (c)  q^j = f e_j + (1 − f)/(K − 1) (1 − e_j)                  f = one_hot_factor
 * and records each domain's loss before and after, G_ij = mean over sweeps of (L_i before −
 * L_i after). With Q the matrix whose rows are q^j, (a) says G_i· = Q A_i·, so
 *   (d)  A_i· = Q⁻¹ G_i· = (G_i· − o Σ_j G_ij) / (f − o)          o = (1 − f)/(K − 1)
 * (Q = (f − o) I + o 11ᵀ, whose inverse is (I − o 11ᵀ)/(f − o) since f + (K − 1) o = 1:
 * Sherman–Morrison). `diagonal: true` keeps only A_ii = G_ii / f. Then
 *   (e)  normalise: A ← A − min(A) if min(A) < 0;  A ← A / Σ A   (`normalize_a`)
 *   (f)  EMA (`ema` = β):  Ā ← (1 − β) A + β Ā  (first round: Ā = A);  p ∝ p⁰ ⊙ exp(η Σ_i Ā_i·)
 *        no EMA:           p ← p ⊙ exp(η Σ_i A_i·)   (b), cumulative over rounds
 * The rest of the round trains on p (then `eps` smoothing, floor eps/K).
 *
 * The probe schedule in mixload. The loader never runs training rounds of its own: the mixer
 * emits the probe mixtures as its weights for the probe steps, so the probes are ordinary
 * entries of the recorded weight schedule and `replay` rebuilds them like any other step.
 * Round r covers steps R = prior_steps + r·update_steps … R + update_steps − 1; probe k of the
 * round (k = 0 … P − 1, P = lp_rounds·K) covers R + k·lp_steps … R + (k + 1)·lp_steps − 1 and
 * probes domain (k mod K + sweep) mod K, sweep = r·lp_rounds + ⌊k/K⌋: a cyclic shift per sweep,
 * so every domain takes every position in the order equally often. Which mixture step t gets
 * is therefore a pure function of t during probes (`probeAt`), and the current exploit weights
 * otherwise.
 *
 * How the feedback feeds A. A trainer's per-domain loss of step b, loss_sum/tokens, is measured
 * on step b's batch BEFORE the model trains on it (prequential for the gym's n-gram learner,
 * "forward, then backward" for a network), so it is a loss of the model after steps < b: the
 * boundary measurement between the probe ending at b − 1 and the one starting at b. The mixer
 * folds the feedback of every probe boundary b_k = R + k·lp_steps, k = 0 … P (b_P is the first
 * exploit step of the round) and accumulates G_{i,j(k−1)} += L_i(b_{k−1}) − L_i(b_k). A domain
 * absent from a boundary step (tokens = 0) gives no difference for the probes on either side;
 * such cells average over the sweeps that have one, or are 0 (counted in describe().missing).
 *
 * The feedback lag. With lag λ the weights of step t depend on the feedback of steps ≤ t − λ
 * (src/schedule/weight-schedule.ts). Probe mixtures do not depend on feedback at all, so the
 * lag cannot move them. The round's update is made when the feedback of b_P is folded, and is
 * in force from b_P + λ: the first λ exploit steps of a round still use the previous round's
 * weights (round 0: the initial ones). Steps 0 … λ − 1 use the mixer's step-0 weights, so they
 * must share one mixture: keep lp_steps ≥ λ when prior_steps = 0 (the defaults, 10 ≥ 2, do).
 * A boundary whose feedback never arrives (a skipped step) leaves its two probes unmeasured,
 * and a missing b_P skips that round's update.
 *
 * Checked against HazyResearch/aioli, trainer/aioli_trainer.py (`learn_params_subroutine`,
 * `train`) and main.py's flags: probes q^j as (c) with `one_hot_factor`; `new_graph[:, j] +=
 * previous_loss − new_loss` per probe, divided by lp_rounds; A_i· = solve(Q, G_i·) per row as
 * (d), or the diagonal G_ii / f (`aioli_diagonal`); `aioli_normalize_A` as (e); with `ema`
 * the weights are exp(η Σ_i Ā_i·) from ONES (not cumulative), without it cumulative from the
 * second round on, as (f); the initial weights before the first update are ones (uniform), or
 * `aioli_prior` for `prior_steps`. The repo's scripts use lp_rounds 2–4, lp_steps 6–10,
 * one_hot_factor 0.5–0.75, η 0.1–1, ema 0.1–0.5, update_steps 200–250 and always normalise A;
 * the defaults here are those of its 7-domain SlimPajama script (2, 10, 0.75, η 1, update 200,
 * normalised) except `ema`, off by default to follow the paper's Algorithm 1 — set 0.1 to
 * reproduce that script.
 *
 * Where mixload deviates:
 * - The official code measures L_i on the VALIDATION set after each probe (one evaluation
 *   per probe, K·lp_rounds per round). mixload's feedback carries the training batch's
 *   per-domain loss every step, so the measurement is the boundary step's training loss
 *   (a loss on documents the model has not yet trained on when data is fresh, as a held-out
 *   loss is; noisier, since a domain at weight o has few tokens in one step). No extra
 *   forward passes are needed, which is what lets a plain trainer run Aioli at all.
 * - Probe order: a cyclic shift per sweep instead of np.random.permutation (deterministic
 *   from the step alone, no seed to carry; each domain still visits every position).
 * - The official code counts the probe steps of a round in steps but subtracts them from the
 *   round's SAMPLE budget (`n_data = update_steps·batch_size − lp_duration`); the round is
 *   cut at update_steps steps anyway, which is what mixload does.
 * - `eps` smoothing of the exploit weights (default 0), as the other mixers offer.
 */
import { z } from "zod";
import { allFinite, checkFeedback, expGradStep, naturalWeights, smooth, uniformWeights, vec } from "./common.js";
import { ConfigError, MixerInputError, type DomainInfo, type Mixer, type MixerState, type StepFeedback } from "./contract.js";
import { StateReader } from "./state.js";

export const aioliSchema = z
  .object({
    eta: z.number().finite().positive().default(1),
    update_steps: z.number().int().positive().default(200),
    lp_rounds: z.number().int().positive().default(2),
    lp_steps: z.number().int().positive().default(10),
    one_hot_factor: z.number().gt(0).max(1).default(0.75),
    ema: z.number().min(0).lt(1).optional(),
    normalize_a: z.boolean().default(true),
    diagonal: z.boolean().default(false),
    prior_steps: z.number().int().nonnegative().default(0),
    initial: z.enum(["uniform", "natural"]).default("uniform"),
    eps: z.number().min(0).max(1).default(0),
  })
  .strict();
export type AioliParams = z.infer<typeof aioliSchema>;

/** Everything Aioli changes while it runs. state() writes it as JSON under these keys. */
interface AioliState {
  /** p, the exploit weights (used outside probes). */
  weights: Float64Array;
  /** G of the current round: Σ over sweeps of loss drops, G[i][j] = domain i during probes of j. */
  drop_sum: Float64Array[];
  /** How many sweeps measured each cell of G. */
  drop_count: Float64Array[];
  /** Ā, the EMA of A (all zeros before the first update; unused without `ema`). */
  ema_a: Float64Array[];
  /** The last boundary measurement per domain (−1 = the domain was absent). */
  boundary_loss: Float64Array;
  /** Step of that measurement (−1: none yet in this round). */
  boundary_step: number;
  /** Updates made (rounds completed). */
  rounds: number;
  /** Cells of G left without a measurement, over the whole run. */
  missing: number;
  /** A of the last round (K×K), for describe(). */
  last_a: Float64Array[];
  last_step: number;
}

const matrix = (K: number): Float64Array[] => Array.from({ length: K }, () => new Float64Array(K));
const copy = (m: Float64Array[]): Float64Array[] => m.map((r) => Float64Array.from(r));

export class AioliMixer implements Mixer {
  readonly name = "aioli";
  readonly needsFeedback = true;
  private readonly K: number;
  /** f and o of (c); K = 1 has a single mixture [1]. */
  private readonly f: number;
  private readonly o: number;
  private readonly initial: Float64Array;
  private s: AioliState;

  constructor(
    private readonly domains: readonly DomainInfo[],
    private readonly p: AioliParams,
  ) {
    const K = (this.K = domains.length);
    this.f = K === 1 ? 1 : p.one_hot_factor;
    this.o = K === 1 ? 0 : (1 - this.f) / (K - 1);
    // Q is singular at f = 1/K (every probe the same mixture) and inverts the sign of A below it.
    if (K > 1 && !(this.f > 1 / K)) throw new ConfigError("mixer.params.one_hot_factor", `must be above 1/K = ${1 / K} for ${K} domains, got ${this.f}`);
    if (!(p.update_steps > this.probeSteps))
      throw new ConfigError(
        "mixer.params.update_steps",
        `must exceed the probe block lp_rounds·K·lp_steps = ${this.probeSteps} (${K} domains), so a round has an exploit step to close its last probe; got ${p.update_steps}`,
      );
    this.initial = smooth(p.initial === "natural" ? naturalWeights(domains) : uniformWeights(K), p.eps);
    this.s = {
      weights: this.initial,
      drop_sum: matrix(K),
      drop_count: matrix(K),
      ema_a: matrix(K),
      boundary_loss: new Float64Array(K).fill(-1),
      boundary_step: -1,
      rounds: 0,
      missing: 0,
      last_a: matrix(K),
      last_step: -1,
    };
  }

  /** Steps of LearnParams at the start of every round: lp_rounds sweeps of K probes of lp_steps. */
  get probeSteps(): number {
    return this.p.lp_rounds * this.K * this.p.lp_steps;
  }

  /**
   * Where `step` falls: its round, and the probe (index within the round, domain probed) when it
   * is a probe step, else probe = −1. A pure function of the step: the probe schedule.
   */
  probeAt(step: number): { round: number; offset: number; probe: number; domain: number } {
    const rel = step - this.p.prior_steps;
    if (rel < 0) return { round: -1, offset: rel, probe: -1, domain: -1 };
    const round = Math.floor(rel / this.p.update_steps);
    const offset = rel - round * this.p.update_steps;
    if (offset >= this.probeSteps) return { round, offset, probe: -1, domain: -1 };
    const probe = Math.floor(offset / this.p.lp_steps);
    return { round, offset, probe, domain: this.probeDomain(round, probe) };
  }

  private probeDomain(round: number, probe: number): number {
    const K = this.K;
    const sweep = round * this.p.lp_rounds + Math.floor(probe / K);
    return ((probe % K) + sweep) % K;
  }

  /** (c): f on the probed domain, o elsewhere. */
  probeMixture(domain: number): Float64Array {
    const q = new Float64Array(this.K).fill(this.o);
    q[domain] = this.f;
    return q;
  }

  weights(step = 0): Float64Array {
    const at = this.probeAt(step);
    return at.probe >= 0 ? this.probeMixture(at.domain) : Float64Array.from(this.s.weights);
  }

  update(fb: StepFeedback): void {
    const present = checkFeedback(fb, this.domains, this.s.last_step);
    const at = this.probeAt(fb.step);
    const L = this.p.lp_steps;
    const P = this.p.lp_rounds * this.K;
    // Only probe boundaries b_k = R + k·lp_steps, k = 0 … P, carry a measurement.
    if (at.round < 0 || at.offset % L !== 0 || at.offset > P * L) {
      this.s = { ...this.s, last_step: fb.step };
      return;
    }
    const k = at.offset / L;
    const loss = new Float64Array(this.K).fill(-1);
    for (const sig of present) loss[sig.index] = sig.loss;
    const first = k === 0;
    const dropSum = first ? matrix(this.K) : copy(this.s.drop_sum);
    const dropCount = first ? matrix(this.K) : copy(this.s.drop_count);
    let missing = this.s.missing;
    // Close probe k − 1 when its opening boundary was measured (a skipped step leaves it open).
    if (!first && this.s.boundary_step === fb.step - L) {
      const j = this.probeDomain(at.round, k - 1);
      const prev = this.s.boundary_loss;
      for (let i = 0; i < this.K; i++) {
        if (prev[i] < 0 || loss[i] < 0) continue;
        dropSum[i][j] += prev[i] - loss[i];
        dropCount[i][j] += 1;
      }
    }
    let next: AioliState = { ...this.s, drop_sum: dropSum, drop_count: dropCount, boundary_loss: loss, boundary_step: fb.step, last_step: fb.step };
    if (k === P) {
      for (const row of dropCount) for (const c of row) if (c === 0) missing += 1;
      next = { ...this.solve(next), missing };
    }
    this.s = next;
  }

  /** (d)–(f) from the round's G: the new exploit weights, committed by update(). */
  private solve(s: AioliState): AioliState {
    const K = this.K;
    const G = s.drop_sum.map((row, i) => Float64Array.from(row, (x, j) => (s.drop_count[i][j] > 0 ? x / s.drop_count[i][j] : 0)));
    // (d) A_i· = Q⁻¹ G_i·, or the diagonal.
    const a = this.f - this.o;
    let A = G.map((row, i) => {
      if (this.p.diagonal) return Float64Array.from(row, (x, j) => (i === j ? x / this.f : 0));
      const total = row.reduce((t, x) => t + x, 0);
      return Float64Array.from(row, (x) => (x - this.o * total) / a);
    });
    // (e) shift to non-negative, scale to total 1 (a zero matrix stays zero: nothing measured moves nothing).
    if (this.p.normalize_a) {
      let min = Infinity,
        sum = 0;
      for (const row of A) for (const x of row) min = Math.min(min, x);
      const shift = min < 0 ? -min : 0;
      for (const row of A) for (const x of row) sum += x + shift;
      A = A.map((row) => Float64Array.from(row, (x) => (sum > 0 ? (x + shift) / sum : 0)));
    }
    if (!A.every(allFinite)) throw new MixerInputError("*", "loss_sum", "A", "the mixing-law estimate is not finite");
    // (f) Ā and the column sums the exponentiated-gradient step takes.
    const ema = this.p.ema;
    const emaA =
      ema === undefined
        ? s.ema_a
        : A.map((row, i) => (s.rounds === 0 ? Float64Array.from(row) : Float64Array.from(row, (x, j) => (1 - ema) * x + ema * s.ema_a[i][j])));
    const M = ema === undefined ? A : emaA;
    const g = new Float64Array(K);
    for (const row of M) for (let j = 0; j < K; j++) g[j] += this.p.eta * row[j];
    const base = ema === undefined && s.rounds > 0 ? s.weights : uniformWeights(K);
    const step = expGradStep(base, g, this.p.eps);
    if ("overflow" in step) throw new MixerInputError(this.domains[step.overflow].name, "loss_sum", g[step.overflow], `η·ΣA overflows (η = ${this.p.eta})`);
    if ("notFinite" in step) throw new MixerInputError("*", "loss_sum", vec(g), "update is not finite");
    return { ...s, weights: step.weights, ema_a: emaA, last_a: A, rounds: s.rounds + 1 };
  }

  state(): MixerState {
    const s = this.s;
    const rows = (m: Float64Array[]) => m.map((r) => vec(r));
    return {
      name: this.name,
      weights: vec(s.weights),
      drop_sum: rows(s.drop_sum),
      drop_count: rows(s.drop_count),
      ema_a: rows(s.ema_a),
      boundary_loss: vec(s.boundary_loss),
      boundary_step: s.boundary_step,
      rounds: s.rounds,
      missing: s.missing,
      last_a: rows(s.last_a),
      last_step: s.last_step,
    };
  }

  restore(blob: MixerState): void {
    const r = new StateReader(blob, this.name, this.K);
    const K = this.K;
    const row = (x: unknown, at: string): Float64Array => {
      if (!Array.isArray(x) || x.length !== K || !x.every((v) => typeof v === "number" && Number.isFinite(v))) r.fail(at, `expected ${K} finite numbers`);
      return Float64Array.from(x as number[]);
    };
    const weights = r.vec("weights");
    const boundaryLoss = r.vec("boundary_loss");
    const drop_sum = r.perDomain("drop_sum", row);
    const drop_count = r.perDomain("drop_count", row);
    const ema_a = r.perDomain("ema_a", row);
    const last_a = r.perDomain("last_a", row);
    const int = (key: string, min: number) => {
      const v = r.num(key);
      if (!Number.isInteger(v) || v < min) r.fail(key, `expected an integer ≥ ${min}, got ${v}`);
      return v;
    };
    this.s = {
      weights,
      drop_sum,
      drop_count,
      ema_a,
      boundary_loss: boundaryLoss,
      boundary_step: int("boundary_step", -1),
      rounds: int("rounds", 0),
      missing: int("missing", 0),
      last_a,
      last_step: int("last_step", -1),
    };
  }

  describe(): Record<string, unknown> {
    const K = this.K;
    const names = this.domains.map((d) => d.name);
    return {
      name: this.name,
      floor: Math.min(this.p.eps / K, K === 1 ? 1 : this.o, ...this.initial),
      ...this.p,
      probe_steps_per_round: this.probeSteps,
      rounds: this.s.rounds,
      missing: this.s.missing,
      // Σ_i A_ij: how much training on j lowered the total loss in the last round (what (b) exponentiates).
      column_sums: Object.fromEntries(names.map((n, j) => [n, this.s.last_a.reduce((t, row) => t + row[j], 0)])),
    };
  }
}
