/**
 * The lag rule, as the one class every caller uses states it: the weights of step t are decided
 * by the feedback of steps ≤ t − lag and by nothing later; before that they are undefined (the
 * service answers not_ready); steps below lag use the initial weights; a resumed schedule answers
 * exactly as the original.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { createMixer } from "../../mixers/registry.js";
import { WeightSchedule, decidingStep, effectiveStep } from "../../src/schedule/weight-schedule.js";
import { doms, feedbackRun } from "../mixers/helpers.js";

const K = 3;
const info = doms(K, (i) => ({ entropy: 1 + 0.5 * i, refLoss: 1 + i }));

describe("WeightSchedule", () => {
  it("pins each fold's weights to step + lag, and those weights equal a mixer that saw exactly the feedback ≤ t − lag", () => {
    fc.assert(
      fc.property(fc.constantFrom("doremi", "odm", "ado", "doge"), fc.integer({ min: 1, max: 4 }), feedbackRun(K, 1, 12), (name, lag, run) => {
        // Dense steps 0..n−1 (a schedule folds every step in order).
        const steps = run.map((f, i) => ({ ...f, step: i }));
        const schedule = new WeightSchedule(createMixer({ name }, info), lag);
        for (let t = 0; t < lag; t++) expect(schedule.at(t)).toBe(schedule.initial);
        steps.forEach((fb, i) => {
          expect(schedule.at(effectiveStep(fb.step, lag))).toBeUndefined();
          const entry = schedule.fold(fb)!;
          expect(entry.step).toBe(fb.step + lag);
          expect(entry.version).toBe(i + 1);
          expect(decidingStep(entry.step, lag)).toBe(fb.step);
          // Reference: a fresh mixer fed the same prefix.
          const ref = createMixer({ name }, info);
          for (const f of steps.slice(0, i + 1)) ref.update(f);
          expect(entry.weights).toEqual(Array.from(ref.weights(entry.step)));
          expect(schedule.at(entry.step)).toBe(entry);
        });
      }),
      { numRuns: 60 },
    );
  });

  it("a snapshot resumes to the same answers", () => {
    const mixer = createMixer({ name: "doremi" }, info);
    const schedule = new WeightSchedule(mixer, 2);
    const fb = (step: number) => ({
      step,
      domains: new Map([
        [0, { loss_sum: 3 * (step + 1), tokens: 10, excess_loss_sum: step + 1 }],
        [1, { loss_sum: 2, tokens: 10, excess_loss_sum: 0.5 }],
      ]),
    });
    for (let s = 0; s < 5; s++) schedule.fold(fb(s));
    const snap = JSON.parse(JSON.stringify(schedule.snapshot(4)));
    const resumed = new WeightSchedule(createMixer({ name: "doremi" }, info), 2, snap);
    for (let t = 4; t <= 6; t++) expect(resumed.at(t)).toEqual(schedule.at(t));
    expect(resumed.version).toBe(schedule.version);
    expect(resumed.at(7)).toBeUndefined();
  });

  it("static mixers take their weights from the step alone and fold to null", () => {
    const schedule = new WeightSchedule(createMixer({ name: "uniform" }, info), 3);
    expect(Array.from(schedule.weightsFor(10))).toEqual([1 / 3, 1 / 3, 1 / 3]);
    expect(schedule.fold({ step: 0, domains: new Map() })).toBeNull();
  });

  it("refuses a lag below 1", () => {
    expect(() => new WeightSchedule(createMixer({ name: "uniform" }, info), 0)).toThrow(/feedback lag must be an integer ≥ 1/);
  });
});
