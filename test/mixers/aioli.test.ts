/**
 * Aioli (mixers/aioli.ts): the LearnParams estimate of A and the exponentiated-gradient step on
 * a case small enough to do by hand, the probe schedule (a pure function of the step, in the
 * recorded schedule, unaffected by the feedback lag), and the resume state.
 */
import { describe, expect, it } from "vitest";
import { createMixer } from "../../mixers/registry.js";
import { ConfigError, type Mixer } from "../../mixers/contract.js";
import { WeightSchedule } from "../../src/schedule/weight-schedule.js";
import { doms, fb, sameBits } from "./helpers.js";

const make = (params: Record<string, unknown>, K = 2): Mixer => createMixer({ name: "aioli", params }, doms(K));
const at = (losses: number[], tokens = 100) => Object.fromEntries(losses.map((l, i) => [i, { loss_sum: l * tokens, tokens }]));

/**
 * K = 2, f = 0.75 (o = 0.25), one sweep of one-step probes, rounds of 4 steps:
 * step 0 probes d0, step 1 probes d1, steps 2–3 exploit. Boundary losses (before training):
 *   step 0: [4, 6]   step 1: [3, 5.5]   step 2: [2.8, 4.5]
 * G[:, d0] = [4 − 3, 6 − 5.5] = [1, 0.5],  G[:, d1] = [3 − 2.8, 5.5 − 4.5] = [0.2, 1].
 * A_i = (G_i − o ΣG_i)/(f − o):  A_0 = ((1 − 0.3)/0.5, (0.2 − 0.3)/0.5) = (1.4, −0.2)
 *                                A_1 = ((0.5 − 0.375)/0.5, (1 − 0.375)/0.5) = (0.25, 1.25)
 * (check: Q A_0 = (0.75·1.4 − 0.25·0.2, 0.25·1.4 − 0.75·0.2) = (1, 0.2) = G_0).
 */
const HAND = { update_steps: 4, lp_rounds: 1, lp_steps: 1, one_hot_factor: 0.75 };
function feedHand(m: Mixer) {
  m.update(fb(0, at([4, 6])));
  m.update(fb(1, at([3, 5.5])));
  m.update(fb(2, at([2.8, 4.5])));
}
/** Round 1 (steps 4–7) probes d1 first (the sweep order shifts by one): the same G as round 0. */
function feedHandAgain(m: Mixer) {
  m.update(fb(4, at([4, 6])));
  m.update(fb(5, at([3.8, 5]))); // probe d1: drops [0.2, 1]
  m.update(fb(6, at([2.8, 4.5]))); // probe d0: drops [1, 0.5]
}

describe("aioli rule (hand-computed)", () => {
  it("unnormalised A: p ∝ exp(η Σ_i A_i·) = exp(1.65), exp(1.05)", () => {
    const m = make({ ...HAND, normalize_a: false });
    feedHand(m);
    const w = m.weights(3);
    expect(w[0]).toBeCloseTo(1 / (1 + Math.exp(1.05 - 1.65)), 14);
    expect(w[1]).toBeCloseTo(1 - 1 / (1 + Math.exp(1.05 - 1.65)), 14);
    const cs = m.describe().column_sums as Record<string, number>;
    expect(cs.d0).toBeCloseTo(1.65, 14);
    expect(cs.d1).toBeCloseTo(1.05, 14);
  });

  it("normalised A (shift by −min = 0.2, divide by the total 3.5): column sums 2.05/3.5 and 1.45/3.5, η = 2", () => {
    const m = make({ ...HAND, eta: 2 });
    feedHand(m);
    const w = m.weights(2);
    expect(w[0]).toBeCloseTo(1 / (1 + Math.exp((2 * (1.45 - 2.05)) / 3.5)), 14);
    // a second round multiplies onto p (no EMA): same drops again ⇒ exponent doubles
    feedHandAgain(m);
    expect(m.weights(7)[0]).toBeCloseTo(1 / (1 + Math.exp((4 * (1.45 - 2.05)) / 3.5)), 13);
  });

  it("with ema the weights restart from uniform each round: an identical second round gives identical weights", () => {
    const m = make({ ...HAND, ema: 0.5 });
    feedHand(m);
    const first = m.weights(3);
    feedHandAgain(m);
    expect(m.weights(7)[0]).toBeCloseTo(first[0], 14);
  });

  it("diagonal: A_ii = G_ii / f, so equal diagonal drops leave the weights uniform", () => {
    const m = make({ ...HAND, diagonal: true, normalize_a: false });
    m.update(fb(0, at([4, 6])));
    m.update(fb(1, at([3, 5.5]))); // G_00 = 1
    m.update(fb(2, at([2.8, 4.5]))); // G_11 = 1
    expect(Array.from(m.weights(3))).toEqual([0.5, 0.5]);
  });

  it("a domain absent at a boundary leaves both adjacent cells unmeasured (counted), the rest still updates", () => {
    const m = make({ ...HAND, normalize_a: false });
    m.update(fb(0, at([4, 6])));
    m.update(fb(1, { 0: { loss_sum: 300, tokens: 100 } })); // d1 absent
    m.update(fb(2, at([2.8, 4.5])));
    expect(m.describe().missing).toBe(2);
    // G = [[1, 0.2], [0, 0]] → A_0 = (1.4, −0.2), A_1 = 0 → p ∝ exp(1.4), exp(−0.2)
    expect(m.weights(3)[0]).toBeCloseTo(1 / (1 + Math.exp(-1.6)), 14);
  });

  it("steps between boundaries change nothing but last_step", () => {
    const m = make({ update_steps: 10, lp_rounds: 1, lp_steps: 3, one_hot_factor: 0.75 });
    m.update(fb(0, at([4, 6])));
    const before = m.state();
    m.update(fb(1, at([1, 1])));
    m.update(fb(2, at([9, 9])));
    expect({ ...m.state(), last_step: 0 }).toEqual(before);
  });
});

describe("aioli probe schedule", () => {
  const K = 3;
  const P = { update_steps: 20, lp_rounds: 2, lp_steps: 2, one_hot_factor: 0.6, prior_steps: 4 };
  const probed = (m: Mixer, t: number) => {
    const w = m.weights(t);
    const top = w.indexOf(Math.max(...w));
    return Math.abs(w[top] - 0.6) < 1e-15 ? top : -1;
  };

  it("is a fixed function of the step: prior, then per round lp_rounds cyclically shifted sweeps of lp_steps each, then exploit", () => {
    const m = make(P, K);
    const seq = Array.from({ length: 48 }, (_, t) => probed(m, t));
    // steps 0–3 prior; round 0: sweeps (0,1,2), (1,2,0); round 1 (step 24): sweeps (2,0,1), (0,1,2)
    const want = [
      -1,
      -1,
      -1,
      -1,
      0,
      0,
      1,
      1,
      2,
      2,
      1,
      1,
      2,
      2,
      0,
      0,
      ...Array(8).fill(-1),
      2,
      2,
      0,
      0,
      1,
      1,
      0,
      0,
      1,
      1,
      2,
      2,
      ...Array(8).fill(-1),
      1,
      1,
      2,
      2,
    ];
    expect(seq).toEqual(want);
    // each probe mixture is f on the probed domain and (1 − f)/(K − 1) elsewhere
    expect(Array.from(m.weights(6))).toEqual([0.2, 0.6, 0.2]);
  });

  it("is the same whatever the feedback, and the recorded schedule (lag 2) carries it; the update lands at b_P + lag", () => {
    const run = (noise: number) => {
      const m = make(P, K);
      const sched = new WeightSchedule(m, 2);
      const rows: number[][] = [];
      for (let t = 0; t < 48; t++) {
        rows.push(Array.from(sched.weightsFor(t)));
        const losses = [0, 1, 2].map((i) => 5 - 0.02 * t * (1 + i * noise) + 0.01 * ((t * 7 + i) % 3));
        sched.fold(fb(t, at(losses)));
      }
      return rows;
    };
    const a = run(0.1),
      b = run(0.7);
    for (let t = 0; t < 48; t++) {
      const isProbe = (t >= 4 && t < 16) || (t >= 24 && t < 36);
      if (isProbe) expect(a[t]).toEqual(b[t]);
    }
    // The round-0 update is folded at b_P = 16 and in force from 18; 16, 17 keep the initial (uniform) weights.
    expect(a[16]).toEqual([1 / 3, 1 / 3, 1 / 3]);
    expect(a[17]).toEqual([1 / 3, 1 / 3, 1 / 3]);
    expect(a[18]).not.toEqual([1 / 3, 1 / 3, 1 / 3]);
    expect(a[18]).not.toEqual(b[18]);
    // Determinism: the same feedback gives the same schedule, bit for bit.
    expect(run(0.1)).toEqual(a);
  });
});

describe("aioli state", () => {
  it("round-trips mid-round and after an update: a restored mixer continues bit for bit", () => {
    const P = { update_steps: 12, lp_rounds: 1, lp_steps: 2, one_hot_factor: 0.7, ema: 0.3 };
    const steps = Array.from({ length: 30 }, (_, t) => fb(t, at([5 - 0.1 * t + 0.03 * (t % 4), 6 - 0.07 * t, 4 - 0.02 * t * (t % 3)])));
    for (const cut of [3, 7, 13, 20]) {
      const a = make(P, 3);
      steps.slice(0, cut).forEach((f) => a.update(f));
      const b = make(P, 3);
      b.restore(JSON.parse(JSON.stringify(a.state())) as Record<string, unknown>);
      expect(b.state()).toEqual(a.state());
      for (const f of steps.slice(cut)) {
        a.update(f);
        b.update(f);
        expect(sameBits(a.weights(f.step + 2), b.weights(f.step + 2))).toBe(true);
      }
    }
  });

  it("a bad blob is a ConfigError naming the field, and the mixer is unchanged", () => {
    const m = make(HAND);
    feedHand(m);
    const good = m.state();
    const bad = (patch: Record<string, unknown>) => ({ ...good, ...patch });
    const cases: [Record<string, unknown>, string][] = [
      [bad({ drop_sum: [[1, 2], [3]] }), "mixer.state.drop_sum[1]"],
      [bad({ ema_a: [[1, 2]] }), "mixer.state.ema_a"],
      [bad({ boundary_step: 1.5 }), "mixer.state.boundary_step"],
      [bad({ rounds: -1 }), "mixer.state.rounds"],
      [bad({ weights: [0.5, "x"] }), "mixer.state.weights"],
      [bad({ name: "doremi" }), "mixer.state.name"],
    ];
    for (const [blob, path] of cases) {
      let err: unknown = null;
      try {
        m.restore(blob);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).path).toBe(path);
      expect(m.state()).toEqual(good);
    }
  });
});

describe("aioli params", () => {
  it.each([
    [{ one_hot_factor: 0.5 }, 2, "mixer.params.one_hot_factor"],
    [{ one_hot_factor: 0.2 }, 5, "mixer.params.one_hot_factor"],
    [{ update_steps: 40, lp_rounds: 2, lp_steps: 10 }, 2, "mixer.params.update_steps"],
    [{ ema: 1 }, 2, "mixer.params.ema"],
    [{ lp_steps: 0 }, 2, "mixer.params.lp_steps"],
  ])("%j with K = %i → ConfigError at %s", (params, K, path) => {
    expect(() => make(params, K)).toThrow(ConfigError);
    try {
      make(params, K);
    } catch (e) {
      expect((e as ConfigError).path).toBe(path);
    }
  });

  it("one domain: every step is [1]", () => {
    const m = make({}, 1);
    for (let t = 0; t < 30; t++) {
      expect(Array.from(m.weights(t))).toEqual([1]);
      m.update(fb(t, at([5 - 0.1 * t])));
    }
    expect(Array.from(m.weights(30))).toEqual([1]);
  });
});
