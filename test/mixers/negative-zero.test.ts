/**
 * Regression (found by fast-check, seed 1416107879): a grad_alignment of −0 was kept in DoGE's
 * state as −0, which JSON turns into 0, so state() differed before and after a round trip.
 */
import { expect, it } from "vitest";
import { createMixer } from "../../mixers/registry.js";

it("a −0 signal leaves state() identical across a JSON round trip", () => {
  const domains = ["a", "b", "c", "d"].map((name) => ({ name, tokens: 1000 }));
  const mixer = createMixer({ name: "doge", params: { mu: 0.01, eps: 0.02 } }, domains);
  mixer.update({ step: 0, domains: new Map([[1, { loss_sum: 0, tokens: 1, excess_loss_sum: 0, ref_loss_sum: 0, grad_alignment: -0 }]]) });
  const state = mixer.state();
  const copy = createMixer({ name: "doge", params: { mu: 0.01, eps: 0.02 } }, domains);
  copy.restore(JSON.parse(JSON.stringify(state)));
  expect(copy.state()).toEqual(state);
  expect(Object.is((state.alignment as number[])[1], -0)).toBe(false);
});
