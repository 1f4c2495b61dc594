/**
 * The synthetic gym's oracle (issue 14, part 4): the best static mixture of the law model,
 * computed exactly. In synthetic.ts a domain's loss depends only on the tokens served so far,
 *
 *   L_i = E_i + B_i · D_eff,i^−β_i,   D_eff,i = D_i + τ Σ_{j≠i} D_j,   D_i = D₀ + w_i N
 *
 * (N = steps × tokens per step), so with Σ w = 1, D_eff,i = c + a·w_i where c = D₀(1 + τ(K − 1)) +
 * τN and a = (1 − τ)N: each L_i is a convex, decreasing function of w_i alone. And because the
 * final losses depend only on the final totals, no dynamic schedule can do better than the best
 * static mixture: the oracle below is a lower bound for every mixer, regret ≥ 0 up to rounding.
 *
 *   mean:         min_w (1/K) Σ L_i(w_i). KKT: −L_i'(w_i) = λ where w_i > 0, i.e.
 *                 w_i(λ) = max(0, ((a β_i B_i / λ)^{1/(β_i+1)} − c) / a); Σ w_i(λ) falls in λ,
 *                 bisection on log λ to Σ = 1.
 *   worst excess: min_w max_i (L_i(w_i) − ref_i). L_i ≤ ref_i + t ⟺ w_i ≥ n_i(t) =
 *                 ((B_i / (ref_i + t − E_i))^{1/β_i} − c) / a (infeasible if ref_i + t ≤ E_i);
 *                 t is feasible iff Σ max(0, n_i(t)) ≤ 1: bisection on t; the bisection-sized
 *                 slack left at the optimum is spread evenly.
 */
export interface Law {
  readonly E: number;
  readonly B: number;
  readonly beta: number;
}

export interface OracleWorld {
  readonly laws: readonly Law[];
  readonly tau: number;
  readonly offset: number;
  /** Total tokens N over the run. */
  readonly total: number;
}

function coefficients(o: OracleWorld): { a: number; c: number } {
  const K = o.laws.length;
  return { a: (1 - o.tau) * o.total, c: o.offset * (1 + o.tau * (K - 1)) + o.tau * o.total };
}

/** Final per-domain losses of a static mixture w (the law model, no rounding). */
export function staticLosses(o: OracleWorld, w: ArrayLike<number>): Float64Array {
  const { a, c } = coefficients(o);
  return Float64Array.from(o.laws, (l, i) => l.E + l.B * Math.pow(c + a * w[i], -l.beta));
}

const ITER = 200;

/** argmin_w mean_i L_i(w_i) on the simplex. */
export function oracleMean(o: OracleWorld): Float64Array {
  const { a, c } = coefficients(o);
  const at = (lambda: number) => Float64Array.from(o.laws, (l) => Math.max(0, (Math.pow((a * l.beta * l.B) / lambda, 1 / (l.beta + 1)) - c) / a));
  const sum = (w: Float64Array) => w.reduce((s, x) => s + x, 0);
  // Bracket log λ: Σ w(λ) is non-increasing in λ, → ∞ as λ → 0 and 0 for λ large.
  let lo = -200,
    hi = 50;
  for (let k = 0; k < ITER; k++) {
    const mid = (lo + hi) / 2;
    if (sum(at(Math.exp(mid))) > 1) lo = mid;
    else hi = mid;
  }
  const w = at(Math.exp(hi));
  return normalise(w);
}

/** argmin_w max_i (L_i(w_i) − ref_i) on the simplex. */
export function oracleWorstExcess(o: OracleWorld, ref: ArrayLike<number>): Float64Array {
  const { a, c } = coefficients(o);
  const need = (t: number): Float64Array | null => {
    const n = new Float64Array(o.laws.length);
    for (const [i, l] of o.laws.entries()) {
      const room = ref[i] + t - l.E;
      if (room <= 0) return null;
      n[i] = Math.max(0, (Math.pow(l.B / room, 1 / l.beta) - c) / a);
    }
    return n;
  };
  const feasible = (t: number) => {
    const n = need(t);
    return n !== null && n.reduce((s, x) => s + x, 0) <= 1;
  };
  // t = max_i (L_i(uniform) − ref_i) is feasible; lower bound: every domain at its best (all data).
  const uni = staticLosses(
    o,
    o.laws.map(() => 1 / o.laws.length),
  );
  let hi = Math.max(...Array.from(uni, (l, i) => l - ref[i]));
  let lo = Math.min(...o.laws.map((l, i) => l.E + l.B * Math.pow(c + a, -l.beta) - ref[i]));
  for (let k = 0; k < ITER; k++) {
    const mid = (lo + hi) / 2;
    if (feasible(mid)) hi = mid;
    else lo = mid;
  }
  const n = need(hi)!;
  const slack = 1 - n.reduce((s, x) => s + x, 0);
  // Spread the (tiny, bisection-sized) slack evenly: it only lowers losses further.
  return normalise(Float64Array.from(n, (x) => x + slack / n.length));
}

function normalise(w: Float64Array): Float64Array {
  const s = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / s);
}
