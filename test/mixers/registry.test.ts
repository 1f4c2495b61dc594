import { describe, expect, it } from "vitest";
import { createMixer, listMixers } from "../../mixers/registry.js";
import { ConfigError } from "../../src/util/errors.js";
import { doms } from "./helpers.js";

/** The ConfigError thrown by createMixer(spec), or null. */
function configError(name: string, params: unknown, K = 3): ConfigError | null {
  try {
    createMixer({ name, params }, doms(K));
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  return null;
}

describe("registry", () => {
  it("lists every mixer once, with whether it needs feedback", () => {
    const list = listMixers();
    expect(list.map((m) => m.name)).toEqual(["static", "uniform", "natural", "temperature", "doremi", "doge", "velocitune", "bimix", "odm", "ado", "aioli"]);
    expect(list.filter((m) => !m.needsFeedback).map((m) => m.name)).toEqual(["static", "uniform", "natural", "temperature"]);
  });

  it("builds each mixer with defaults where it has any", () => {
    for (const name of ["uniform", "natural", "temperature", "doremi", "doge", "odm", "ado", "aioli"]) expect(createMixer({ name }, doms(3)).name).toBe(name);
  });

  it.each([
    ["doremi", { eta: -1 }, "mixer.params.eta"],
    ["doremi", { c: 2 }, "mixer.params.c"],
    ["doremi", { vocab_size: 1.5 }, "mixer.params.vocab_size"],
    ["doremi", { etaa: 1 }, "mixer.params.etaa"],
    ["doremi", { ref_losses: { nope: 1 } }, "mixer.params.ref_losses.nope"],
    ["doge", { mu: 0 }, "mixer.params.mu"],
    ["doge", { dw_min: 3, dw_max: 1 }, "mixer.params.dw_min"],
    ["temperature", { T: "hot" }, "mixer.params.T"],
    ["static", { weights: { d0: -1 } }, "mixer.params.weights.d0"],
    ["static", { weights: { d9: 1 } }, "mixer.params.weights.d9"],
    ["static", { weights: { d0: 0 } }, "mixer.params.weights"],
    ["static", {}, "mixer.params.weights"],
    ["static", { phases: [{ weights: { d0: 1 } }, { weights: { d1: 1 } }] }, "mixer.params.phases[0].until_step"],
    ["static", { phases: [{ until_step: 0, weights: { d0: 1 } }] }, "mixer.params.phases[0].until_step"],
    ["static", { phases: [{ until_tokens: 10, weights: { d0: 1 } }, { weights: { d1: 1 } }] }, "mixer.params.tokens_per_step"],
    ["velocitune", { update_every: 1 }, "mixer.params.target_tokens"],
    ["velocitune", { update_every: 0, target_tokens: 1 }, "mixer.params.update_every"],
    ["bimix", { r_min: 0.5 }, "mixer.params.r_min"],
    ["bimix", { points: [] }, "mixer.params.target_step"],
    ["bimix", { start: "entropy" }, "mixer.params.start"],
    ["bimix", { target_step: 10, points: [{ domain: "x", r: 0.5, s: 1, loss: 1 }] }, "mixer.params.points[0].domain"],
    ["odm", { smoothing: 1 }, "mixer.params.smoothing"],
    ["ado", { min_prob: 0.5 }, "mixer.params.min_prob"],
  ])("%s %j → ConfigError at %s", (name, params, path) => {
    const e = configError(name, params);
    expect(e).toBeInstanceOf(ConfigError);
    expect(e!.path).toBe(path);
  });

  it("unknown mixer names and duplicate domains are config errors too", () => {
    expect(configError("doremy", {})?.path).toBe("mixer.name");
    expect(() =>
      createMixer({ name: "uniform" }, [
        { name: "a", tokens: 1 },
        { name: "a", tokens: 1 },
      ]),
    ).toThrow(/domains\[1\].name/);
  });

  it("restore() rejects a state from another mixer or of the wrong size", () => {
    const m = createMixer({ name: "doremi" }, doms(3));
    expect(() => m.restore(createMixer({ name: "doge" }, doms(3)).state())).toThrow(ConfigError);
    expect(() => m.restore(createMixer({ name: "doremi" }, doms(4)).state())).toThrow(/mixer.state.weights/);
  });
});
