import { describe, expect, it } from "vitest";
import { createMixer } from "../../mixers/registry.js";
import { doms, fb } from "./helpers.js";

const close = (a: Float64Array, b: number[]) => b.forEach((x, i) => expect(a[i]).toBeCloseTo(x, 14));

describe("static", () => {
  it("normalises a weights map; missing domains get 0", () => {
    const m = createMixer({ name: "static", params: { weights: { d0: 2, d1: 6 } } }, doms(3));
    expect(m.needsFeedback).toBe(false);
    close(m.weights(0), [0.25, 0.75, 0]); // 2/8, 6/8, 0
    close(m.weights(10 ** 9), [0.25, 0.75, 0]);
  });

  it("phase schedule, K = 3: steps 0 and 5 of a two-phase blend, with and without interpolation", () => {
    const phases = [{ until_step: 10, weights: { d0: 2, d1: 1, d2: 1 } }, { weights: { d1: 1, d2: 1 } }];
    // Phase 1 = (2,1,1)/4 = (0.5, 0.25, 0.25) on [0, 10); phase 2 = (0, 1, 1)/2 = (0, 0.5, 0.5) from 10.
    const hard = createMixer({ name: "static", params: { phases } }, doms(3));
    close(hard.weights(0), [0.5, 0.25, 0.25]);
    close(hard.weights(5), [0.5, 0.25, 0.25]);
    close(hard.weights(10), [0, 0.5, 0.5]);
    // Interpolated: knots at steps 0 and 10; u = (5 − 0)/(10 − 0) = 0.5 →
    // 0.5·(0.5, 0.25, 0.25) + 0.5·(0, 0.5, 0.5) = (0.25, 0.375, 0.375).
    const lin = createMixer({ name: "static", params: { phases, interpolate: true } }, doms(3));
    close(lin.weights(0), [0.5, 0.25, 0.25]);
    close(lin.weights(5), [0.25, 0.375, 0.375]);
    close(lin.weights(10), [0, 0.5, 0.5]);
    close(lin.weights(99), [0, 0.5, 0.5]);
  });

  it("until_tokens converts with tokens_per_step", () => {
    // 1000 tokens at 300 per step: phase 2 starts at ceil(1000/300) = step 4.
    const m = createMixer(
      { name: "static", params: { tokens_per_step: 300, phases: [{ until_tokens: 1000, weights: { d0: 1 } }, { weights: { d1: 1 } }] } },
      doms(2),
    );
    close(m.weights(3), [1, 0]);
    close(m.weights(4), [0, 1]);
  });

  it("validates feedback even though it ignores it", () => {
    const m = createMixer({ name: "static", params: { weights: { d0: 1 } } }, doms(3));
    m.update(fb(0, { 0: { loss_sum: 1, tokens: 1 } }));
    expect(() => m.update(fb(1, { 7: { loss_sum: 1, tokens: 1 } }))).toThrow(/unknown domain/);
    expect(m.state()).toEqual({ name: "static", last_step: 0 });
  });
});

describe("presets", () => {
  const d = doms(3, (i) => ({ tokens: [100, 300, 600][i] }));
  it("uniform = 1/3 each", () => close(createMixer({ name: "uniform" }, d).weights(0), [1 / 3, 1 / 3, 1 / 3]));
  it("natural ∝ tokens: (100, 300, 600)/1000", () => close(createMixer({ name: "natural" }, d).weights(7), [0.1, 0.3, 0.6]));
  it("temperature T = 2: ∝ √n = (10, 17.3205, 24.4949)/52.8154", () => {
    // √100 = 10, √300 = 17.320508, √600 = 24.494897; Σ = 52.815405
    close(createMixer({ name: "temperature", params: { T: 2 } }, d).weights(0), [0.19299279630882285, 0.3342733287016725, 0.47273387498950475]);
  });
  it("none of them waits for feedback", () => {
    for (const name of ["uniform", "natural", "temperature"]) expect(createMixer({ name }, d).needsFeedback).toBe(false);
  });
});
