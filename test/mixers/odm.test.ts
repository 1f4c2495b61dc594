import { describe, expect, it } from "vitest";
import { createMixer } from "../../mixers/registry.js";
import { doms, fb } from "./helpers.js";

const close = (a: Float64Array, b: number[]) => b.forEach((x, i) => expect(a[i]).toBeCloseTo(x, 12));

describe("odm (EXP3)", () => {
  it("K = 3, two steps (uniform start, β = 0.5, reward = loss/10)", () => {
    const m = createMixer({ name: "odm", params: { initial: "uniform" } }, doms(3));
    // Step 9 → t = 10: ε₁₀ = min(⅓, √(ln 3 / 30)) = 0.1913646; previous ε = ⅓.
    //   R̂ = 0.5·0 + 0.5·(0.1·2/⅓, 0.1·4/⅓, —) = (0.3, 0.6, 0)
    //   π = (1 − 3·0.1913646)·softmax(⅓·R̂) + 0.1913646
    //     = 0.4259062·(0.3322250, 0.3671654, 0.3006096) + 0.1913646 = (0.3328613, 0.3477426, 0.3193961)
    m.update(fb(9, { 0: { loss_sum: 4, tokens: 2 }, 1: { loss_sum: 8, tokens: 2 } }));
    close(m.weights(10), [0.33286128453637404, 0.34774262089411323, 0.3193960945695127]);
    // Step 19 → t = 20: ε₂₀ = √(ln 3 / 60) = 0.1353152; exponent uses ε₁₀.
    //   d2: loss 3 → R̂₂ = 0.5·0 + 0.5·0.3/0.3193961 = 0.4696363; d0, d1 absent keep (0.3, 0.6)
    //   π = (1 − 3·0.1353152)·softmax(0.1913646·R̂) + ε₂₀, softmax = (0.3234064, 0.3425163, 0.3340773) → (0.3274362, 0.3387885, 0.3337753)
    m.update(fb(19, { 2: { loss_sum: 3, tokens: 1 } }));
    close(m.weights(20), [0.32743622196678096, 0.33878851666259246, 0.33377526137062663]);
  });

  it("cumulative: true reproduces the official code's running sum", () => {
    const m = createMixer({ name: "odm", params: { initial: "uniform", cumulative: true } }, doms(2));
    m.update(fb(0, { 0: { loss_sum: 10, tokens: 1 } }));
    // R̂ = (0 + 0.1·10/0.5, 0) = (2, 0); ε₁ = min(½, √(ln 2/2)) = ½ → π = (1 − 1)·… + ½ = (½, ½)
    expect(m.state().reward).toEqual([2, 0]);
    close(m.weights(1), [0.5, 0.5]);
  });

  it("warm-up keeps the initial (natural) weights while estimates accumulate", () => {
    const m = createMixer({ name: "odm", params: { warmup_steps: 5 } }, doms(3));
    m.update(fb(3, { 0: { loss_sum: 50, tokens: 1 } }));
    close(m.weights(4), [1 / 6, 2 / 6, 3 / 6]); // tokens 1000, 2000, 3000
  });
});
