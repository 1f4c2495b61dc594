import { describe, expect, it } from "vitest";
import { bimixLoss, fitBimixLaw, optimiseMixture, type BimixLaw } from "../../mixers/bimix.js";
import { createMixer } from "../../mixers/registry.js";
import { doms, fb } from "./helpers.js";

const close = (a: Float64Array, b: number[], digits = 12) => b.forEach((x, i) => expect(a[i]).toBeCloseTo(x, digits));

/** Exact tuples from L_i = A_i r^−1 (0.5 s^−0.5 + 1) over four mixtures × five steps. */
function tuples(A: number[]) {
  const out: { domain: string; r: number; s: number; loss: number }[] = [];
  A.forEach((a, i) => {
    for (const r of [0.1, 0.2, 0.3, 0.5])
      for (const s of [10, 20, 50, 100, 200]) out.push({ domain: `d${i}`, r, s, loss: bimixLoss({ A: a, alpha: 1, B: 0.5, beta: 0.5, C: 1 }, r, s) });
  });
  return out;
}

describe("bimix", () => {
  it("K = 3: entropy start, then two steps leave the offline optimum in place", () => {
    // H = (0, ln 2, ln 3) → e^H/Σ = (1, 2, 3)/6; floor r_min = 0.01: (1 − 3·0.01)·r + 0.01
    const d = doms(3, (i) => ({ entropy: Math.log(i + 1) }));
    const start = createMixer({ name: "bimix", params: { r_min: 0.01 } }, d);
    close(start.weights(0), [0.97 / 6 + 0.01, (0.97 * 2) / 6 + 0.01, (0.97 * 3) / 6 + 0.01]);
    // With tuples from A = (1, 4, 9), α = 1, B = 0.5, β = 0.5, C = 1 and s* = 100:
    //   c_i = A_i (0.5·100^−0.5 + 1) = 1.05·A_i; KKT for α = 1: c_i / r_i² = μ → r_i ∝ √c_i ∝ (1, 2, 3)
    //   → r* = (1/6, 2/6, 3/6), every entry above r_min so nothing is clamped.
    const m = createMixer({ name: "bimix", params: { r_min: 0.01, target_step: 100, points: tuples([1, 4, 9]) } }, d);
    close(m.weights(0), [1 / 6, 2 / 6, 3 / 6], 6);
    m.update(fb(0, { 0: { loss_sum: 5, tokens: 1 } }));
    m.update(fb(1, { 1: { loss_sum: 5, tokens: 1 } }));
    close(m.weights(2), [1 / 6, 2 / 6, 3 / 6], 6);
    expect(m.needsFeedback).toBe(false);
    const laws = (m.describe() as { laws: Record<string, BimixLaw> }).laws;
    expect(laws.d1.alpha).toBeCloseTo(1, 6);
    expect(laws.d1.beta).toBeCloseTo(0.5, 6);
    expect(laws.d1.r2_log).toBeGreaterThan(0.999999);
  });

  it("reports held-out (extrapolation) error for tuples past fit_until_step", () => {
    const m = createMixer({ name: "bimix", params: { target_step: 400, fit_until_step: 100, points: tuples([1, 2]) } }, doms(2));
    const law = (m.describe() as { laws: Record<string, BimixLaw> }).laws.d0;
    expect(law.n).toBe(16);
    expect(law.holdout_mre!).toBeLessThan(1e-6);
  });

  it("the optimiser clamps domains to r_min and keeps the simplex", () => {
    const law = (A: number, alpha: number): BimixLaw => ({ A, alpha, B: 1, beta: 0.5, C: 1, r2_log: 1, mre: 0, holdout_r2_log: null, holdout_mre: null, n: 5 });
    const r = optimiseMixture([law(1, 1), law(1e-6, 1), law(1, 0)], 100, 0.05)!;
    expect(r[1]).toBe(0.05); // nearly free to shrink → floor
    expect(r[2]).toBe(0.05); // α = 0: loss does not depend on r → floor
    expect(r[0]).toBeCloseTo(0.9, 12);
  });

  it("fitBimixLaw recovers the five coefficients (C fixed to 1) from noisy-free data", () => {
    const pts = tuples([2]);
    const law = fitBimixLaw({ r: pts.map((p) => p.r), s: pts.map((p) => p.s), loss: pts.map((p) => p.loss) })!;
    expect(law.A).toBeCloseTo(2, 6);
    expect(law.B).toBeCloseTo(0.5, 6);
    expect(law.C).toBe(1);
  });

  it("online refits from its own ⟨r, s, L⟩ log need feedback", () => {
    const m = createMixer({ name: "bimix", params: { target_step: 1000, refit_every: 10, start: "uniform" } }, doms(3));
    expect(m.needsFeedback).toBe(true);
    for (let t = 0; t < 20; t++)
      m.update(fb(t, { 0: { loss_sum: 3 + 10 / (t + 1), tokens: 1 }, 1: { loss_sum: 4 + 1 / (t + 1), tokens: 1 }, 2: { loss_sum: 2, tokens: 1 } }));
    const w = m.weights(20);
    expect(w.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });
});
