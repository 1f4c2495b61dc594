import { describe, expect, it } from "vitest";
import { createMixer } from "../../mixers/registry.js";
import { fitDataLaw } from "../../mixers/fit.js";
import { doms, fb } from "./helpers.js";

const close = (a: Float64Array, b: number[], digits = 12) => b.forEach((x, i) => expect(a[i]).toBeCloseTo(x, digits));

describe("velocitune", () => {
  it("K = 3, two updates (m = 1, η = 1, targets 1, ℓ(0) = (3, 3, 5))", () => {
    const m = createMixer(
      { name: "velocitune", params: { update_every: 1, targets: { d0: 1, d1: 1, d2: 1 }, initial_losses: { d0: 3, d1: 3, d2: 5 } } },
      doms(3),
    );
    // Step 0: ℓ = (10/5 = 2, eval 2.5 wins over training 9, 5.5/1 = 5.5)
    //   V = ((2−1)/(3−1), (2.5−1)/(3−1), clamp((5.5−1)/(5−1))) = (0.5, 0.75, 1)
    //   w ∝ ⅓·(e^0.5, e^0.75, e^1) = (1.6487213, 2.1170000, 2.7182818)/6.4840031 = (0.2542752, 0.3264958, 0.4192290)
    m.update(fb(0, { 0: { loss_sum: 10, tokens: 5 }, 1: { loss_sum: 9, tokens: 1, eval_loss: 2.5 }, 2: { loss_sum: 5.5, tokens: 1 } }));
    close(m.weights(1), [0.25427521259046565, 0.3264958357998367, 0.4192289516096977]);
    // Step 1: ℓ = (3/2 = 1.5, d1 absent → reuses 2.5, 0.5) → V = (0.25, 0.75, clamp(−0.125) = 0)
    //   w ∝ w₁ ⊙ (e^0.25, e^0.75, 1) = (0.3264954, 0.6911865, 0.4192290)/1.4369109 = (0.2272198, 0.4810243, 0.2917560)
    m.update(fb(1, { 0: { loss_sum: 3, tokens: 2 }, 2: { loss_sum: 0.5, tokens: 1 } }));
    close(m.weights(2), [0.2272197730177806, 0.48102426325336967, 0.29175596372884977]);
    const d = m.describe();
    expect(d.signals).toEqual({ d0: "train_loss", d1: "eval_loss", d2: "train_loss" });
    expect(d.velocity).toEqual({ d0: 0.25, d1: 0.75, d2: 0 });
  });

  it("windows of m steps: weights move only at the window's end, from Σ loss_sum / Σ tokens", () => {
    const m = createMixer({ name: "velocitune", params: { update_every: 2, targets: { d0: 0, d1: 0 }, initial_losses: { d0: 4, d1: 4 } } }, doms(2));
    m.update(fb(0, { 0: { loss_sum: 4, tokens: 1 }, 1: { loss_sum: 2, tokens: 1 } }));
    close(m.weights(1), [0.5, 0.5]);
    // window: d0 (4 + 12)/(1 + 3) = 4 → V = 1; d1 (2 + 2)/(1 + 1) = 2 → V = 0.5; w ∝ (e, e^0.5)
    m.update(fb(1, { 0: { loss_sum: 12, tokens: 3 }, 1: { loss_sum: 2, tokens: 1 } }));
    close(m.weights(2), [Math.E / (Math.E + Math.exp(0.5)), Math.exp(0.5) / (Math.E + Math.exp(0.5))]);
  });

  it("fits L(D) = E + B/D^β with mathjs LM and extrapolates the proxy curve to target_tokens", () => {
    const D = [1e6, 2e6, 5e6, 1e7, 2e7, 5e7, 1e8];
    const law = (d: number) => 2 + 50 * d ** -0.3;
    const fit = fitDataLaw(D, D.map(law));
    expect(fit.E).toBeCloseTo(2, 5);
    expect(fit.B).toBeCloseTo(50, 2);
    expect(fit.beta).toBeCloseTo(0.3, 6);
    expect(fit.rmse).toBeLessThan(1e-8);
    const m = createMixer({ name: "velocitune", params: { target_tokens: 1e9, proxy: { d0: { tokens: D, loss: D.map(law) } }, targets: { d1: 1 } } }, doms(2));
    const d = m.describe() as { targets: Record<string, number>; laws: Record<string, { source: string } | null> };
    expect(d.targets.d0).toBeCloseTo(law(1e9), 6);
    expect(d.targets.d1).toBe(1);
    expect(d.laws.d0?.source).toBe("proxy");
  });

  it("without targets it fits the run's own history online once 4 windows exist", () => {
    const m = createMixer({ name: "velocitune", params: { update_every: 1, target_tokens: 1e6 } }, doms(2));
    const loss = (i: number, d: number) => (i === 0 ? 2 + 5 * d ** -0.5 : 3 + 2 * d ** -0.2);
    let seen = 0;
    for (let t = 0; t < 6; t++) {
      seen += 2000;
      m.update(fb(t, { 0: { loss_sum: loss(0, seen) * 1000, tokens: 1000 }, 1: { loss_sum: loss(1, seen) * 1000, tokens: 1000 } }));
      if (t < 3) close(m.weights(t + 1), [0.5, 0.5], 15); // no law yet: weights hold
    }
    const d = m.describe() as { laws: Record<string, { source: string; rmse: number } | null> };
    expect(d.laws.d0?.source).toBe("online");
    expect(d.laws.d0!.rmse).toBeLessThan(1e-3);
  });
});
