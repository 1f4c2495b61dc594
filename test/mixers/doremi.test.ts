import { describe, expect, it } from "vitest";
import type { DoremiMixer } from "../../mixers/doremi.js";
import { createMixer } from "../../mixers/registry.js";
import { doms, fb } from "./helpers.js";

const close = (a: Float64Array, b: number[]) => b.forEach((x, i) => expect(a[i]).toBeCloseTo(x, 12));

describe("doremi", () => {
  it("K = 3, two steps of Group DRO (η = 1, c = 0.1, |V| = 8)", () => {
    const m = createMixer({ name: "doremi", params: { eta: 1, c: 0.1, vocab_size: 8 } }, doms(3)) as DoremiMixer;
    // Step 0: λ = (2/4, 0/2, unseen → ln 8) = (0.5, 0, 2.0794415)
    //   softmax(ln ⅓ + λ) = (e^0.5, 1, 8)/(1.6487213 + 1 + 8) = (0.1548280, 0.0939080, 0.7512640)
    //   α₁ = 0.9·that + 0.1/3 = (0.1726786, 0.1178505, 0.7094709)
    m.update(fb(0, { 0: { loss_sum: 9, tokens: 4, excess_loss_sum: 2 }, 1: { loss_sum: 3, tokens: 2, excess_loss_sum: 0 } }));
    close(m.weights(1), [0.17267862239756254, 0.11785052343730787, 0.7094708541651296]);
    // Step 1: only domain 2 (3/3 = 1); domains 0, 1 reuse λ = 0.5, 0.
    //   α₂ ∝ α₁ ⊙ (e^0.5, 1, e^1) = (0.2846977, 0.1178505, 1.9285398)/2.3310880 = (0.1221312, 0.0505559, 0.8273129); ·0.9 + 0.0333
    m.update(fb(1, { 2: { loss_sum: 5, tokens: 3, excess_loss_sum: 3 } }));
    close(m.weights(2), [0.14325139619547878, 0.07883368628955797, 0.7779149175149632]);
    // ᾱ = (α₁ + α₂)/2
    close(m.averageWeights(), [0.15796500929652066, 0.09834210486343292, 0.7436928858400464]);
    expect(m.describe().floor).toBeCloseTo(0.1 / 3, 15);
  });

  it("reference-table mode: λ = max(ℓ − ref, 0) from DomainInfo.refLoss", () => {
    const m = createMixer(
      { name: "doremi", params: { c: 0.1 } },
      doms(3, () => ({ refLoss: 2 })),
    );
    // ℓ = (6/2, 3/2, 4/2) = (3, 1.5, 2) → λ = (1, 0, 0); softmax ∝ (e, 1, 1) = (0.5761168, 0.2119416, 0.2119416)
    // ·0.9 + 0.0333 = (0.5518385, 0.2240807, 0.2240807)
    m.update(fb(0, { 0: { loss_sum: 6, tokens: 2 }, 1: { loss_sum: 3, tokens: 2 }, 2: { loss_sum: 8, tokens: 4 } }));
    close(m.weights(1), [0.5518385296225795, 0.22408073518871022, 0.22408073518871022]);
    expect(m.describe().signals).toEqual({ d0: "ref_table", d1: "ref_table", d2: "ref_table" });
  });

  it("params.ref_losses overrides DomainInfo and excess_loss_sum wins over both", () => {
    const m = createMixer(
      { name: "doremi", params: { c: 0, ref_losses: { d0: 3 } } },
      doms(2, () => ({ refLoss: 0 })),
    );
    // d0: ℓ = 3, ref 3 → λ = 0; d1: excess 2/2 = 1 → α ∝ (1, e)
    m.update(fb(0, { 0: { loss_sum: 6, tokens: 2 }, 1: { loss_sum: 6, tokens: 2, excess_loss_sum: 2 } }));
    close(m.weights(1), [1 / (1 + Math.E), Math.E / (1 + Math.E)]);
  });

  it("without excess loss or any reference the step is rejected, state untouched", () => {
    const m = createMixer({ name: "doremi" }, doms(3));
    const before = m.state();
    expect(() => m.update(fb(0, { 1: { loss_sum: 1, tokens: 1 } }))).toThrow(/d1: excess_loss_sum/);
    expect(m.state()).toEqual(before);
  });
});
