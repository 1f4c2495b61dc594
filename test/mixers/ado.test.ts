import { describe, expect, it } from "vitest";
import { fitAdoLaw } from "../../mixers/ado.js";
import { createMixer } from "../../mixers/registry.js";
import { doms, fb } from "./helpers.js";

const close = (a: Float64Array | number[], b: number[]) => b.forEach((x, i) => expect(a[i]).toBeCloseTo(x, 12));

describe("ado", () => {
  it("K = 3, two steps of the policy from given laws (restored state)", () => {
    const d = doms(3, (i) => ({ tokens: [1, 1, 2][i] })); // ρ = (0.25, 0.25, 0.5)
    const m = createMixer({ name: "ado", params: { start_step: 0, ignore_steps: 100, update_every: 1000 } }, d);
    // Laws (A, E, α): L̂(n) = e^E + e^A n^−α; reducible part e^A n^−α.
    const laws = [
      [Math.log(2), 0, 0.5],
      [0, 0, 0.2],
      [Math.log(3), 0, 0.01],
    ];
    m.restore({ ...m.state(), seen: [100, 100, 100], h: [1 / 3, 1 / 3, 1 / 3], laws, last_step: 6 });
    // Step 7: tokens (50, 50, 0), same step size → n = 100 + 100 = 200 for all;
    //   h = 0.9·⅓ + 0.1·(0.5, 0.5, 0) = (0.35, 0.35, 0.3)
    //   score_k = max(α, 0.05)·e^A·200^−α/200 · ρ_k · √(h(1−h)):
    //     d0: 0.5·2·200^−0.5/200·0.25·√(0.2275) = 0.5·0.1414214/200·0.25·0.4769696
    //     d1: 0.2·200^−0.2/200·0.25·0.4769696;  d2: max(0.01, 0.05)·3·200^−0.01/200·0.5·√0.21
    //   dist = normalised = (0.1710541, 0.1676766, 0.6612693)  (all ≥ 0.01, no clipping)
    //   p = 0.9·ρ + 0.1·dist = (0.2421054, 0.2417677, 0.5161269);  p̄ ← (1 − 1/8)·ρ + dist/8
    m.update(fb(7, { 0: { loss_sum: 100, tokens: 50 }, 1: { loss_sum: 100, tokens: 50 } }));
    close(m.weights(8), [0.24210540914038092, 0.24176766006375772, 0.5161269307958614]);
    close(m.state().p_avg as number[], [0.24013176142547615, 0.23970957507969715, 0.5201586634948268]);
    // Step 8: tokens (0, 30, 70) → n = 300; h = 0.9·h + 0.1·(0, 0.3, 0.7) = (0.315, 0.345, 0.34)
    //   dist = (0.1400931, 0.1587130, 0.7011939); p = 0.9·p̄ + 0.1·dist
    m.update(fb(8, { 1: { loss_sum: 60, tokens: 30 }, 2: { loss_sum: 140, tokens: 70 } }));
    close(m.weights(9), [0.23012789061515102, 0.23160992148264367, 0.5382621879022054]);
  });

  it("before any law the policy is the natural prior ρ", () => {
    const m = createMixer({ name: "ado" }, doms(3));
    m.update(fb(0, { 0: { loss_sum: 1, tokens: 1 } }));
    close(m.weights(1), [1 / 6, 2 / 6, 3 / 6]);
  });

  it("fits ln L = logsumexp(A − α ln n, E) on exact power-law data", () => {
    const n = Array.from({ length: 30 }, (_, i) => 1000 * (i + 1));
    const L = n.map((x) => Math.exp(0.7) + Math.exp(3) * x ** -0.35);
    const [A, E, alpha] = fitAdoLaw(n, L)!;
    expect(A).toBeCloseTo(3, 3);
    expect(E).toBeCloseTo(0.7, 4);
    expect(alpha).toBeCloseTo(0.35, 4);
  });

  it("refits online and then moves the weights off the prior", () => {
    const m = createMixer({ name: "ado", params: { start_step: 20, ignore_steps: 0, update_every: 20, subsample: 2 } }, doms(3));
    let seen = 0;
    for (let t = 0; t <= 20; t++) {
      seen += 300;
      const L = (k: number) => 1 + (k + 1) * 20 * seen ** -0.3;
      m.update(fb(t, { 0: { loss_sum: 100 * L(0), tokens: 100 }, 1: { loss_sum: 100 * L(1), tokens: 100 }, 2: { loss_sum: 100 * L(2), tokens: 100 } }));
    }
    const laws = (m.describe() as { laws: Record<string, unknown> }).laws;
    expect(Object.values(laws).every((l) => l !== null)).toBe(true);
    expect(Array.from(m.weights(21))).not.toEqual([1 / 6, 2 / 6, 3 / 6]);
  });
});
