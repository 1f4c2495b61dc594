import { describe, expect, it } from "vitest";
import type { DogeMixer } from "../../mixers/doge.js";
import { createMixer } from "../../mixers/registry.js";
import { doms, fb } from "./helpers.js";

const close = (a: Float64Array, b: number[]) => b.forEach((x, i) => expect(a[i]).toBeCloseTo(x, 12));
const sig = (a: number) => ({ loss_sum: 1, tokens: 1, grad_alignment: a });

describe("doge", () => {
  it("K = 3, two steps (μ = 0.5, dw ∈ [0, 5], ε = 0.3)", () => {
    const m = createMixer({ name: "doge", params: { mu: 0.5, eps: 0.3 } }, doms(3)) as DogeMixer;
    // Step 0, lr 0.1: s = (2, −1, 100) → lr·s = (0.2, −0.1, 10) clipped to [0, 0.5] = (0.2, 0, 0.5)
    //   log α + score/μ = ln ⅓ + (0.4, 0, 1) → softmax ∝ (1.4918247, 1, 2.7182818)/5.2101065
    //   = (0.2863329, 0.1919347, 0.5217325); ·0.7 + 0.1 = (0.3004330, 0.2343543, 0.4652127)
    m.update(fb(0, { 0: sig(2), 1: sig(-1), 2: sig(100) }, 0.1));
    close(m.weights(1), [0.3004330013441231, 0.23435425868805393, 0.46521273996782286]);
    // Step 1, lr 0.2: d1 absent → reuses s = −1; s = (1, −1, 0) → clip(0.2·s, 0, 1) = (0.2, 0, 0)
    //   α ∝ α₁ ⊙ (e^0.4, 1, 1) → (0.3904939, 0.2041840, 0.4053222); ·0.7 + 0.1 = (0.3733457, 0.2429288, 0.3837255)
    m.update(fb(1, { 0: sig(1), 2: sig(0) }, 0.2));
    close(m.weights(2), [0.3733456984241111, 0.2429287727322768, 0.38372552884361194]);
    close(m.averageWeights(), [0.3368893498841171, 0.23864151571016537, 0.42446913440571743]);
  });

  it("missing lr falls back to default_lr (1e-4, as the official code without a scheduler)", () => {
    const a = createMixer({ name: "doge" }, doms(2));
    const b = createMixer({ name: "doge" }, doms(2));
    a.update(fb(0, { 0: sig(3), 1: sig(1) }));
    b.update(fb(0, { 0: sig(3), 1: sig(1) }, 1e-4));
    expect(Array.from(a.weights(1))).toEqual(Array.from(b.weights(1)));
  });

  it("a domain in the batch without grad_alignment is rejected", () => {
    const m = createMixer({ name: "doge" }, doms(3));
    expect(() => m.update(fb(0, { 0: sig(1), 1: { loss_sum: 1, tokens: 1 } }))).toThrow(/d1: grad_alignment/);
  });
});
