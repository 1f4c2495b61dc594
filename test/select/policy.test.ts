/**
 * The keep rule (src/select/policy.ts): a pure function of (seed, domain, id, score, policy), the
 * top fraction keeps that fraction with ties broken by id, sampling hits its rate, and the
 * config's `select` block rejects contradictions with a named field.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { applyPlan, keepReason, planSelection, selectSchema, waterFill, type DuplicateIds, type SelectPolicy } from "../../src/select/policy.js";
import { parseConfig } from "../../src/config/load.js";
import { ROOT, smallBrownConfig } from "../helpers/fixtures.js";

const policy = (p: Record<string, unknown>): SelectPolicy => selectSchema.parse(p);
const scoresArb = fc
  .array(fc.oneof(fc.double({ min: -5, max: 5, noNaN: true }), fc.integer({ min: -3, max: 3 })), { minLength: 1, maxLength: 400 })
  .map((xs) => Float64Array.from(xs));
const policyArb = fc.record(
  {
    prefer: fc.constantFrom("high", "low"),
    min: fc.double({ min: -5, max: 0, noNaN: true }),
    top_fraction: fc.double({ min: 0.01, max: 1, noNaN: true }),
    sample: fc.constant("tempered"),
    rate: fc.double({ min: 0.05, max: 1, noNaN: true }),
    temperature: fc.double({ min: 0.05, max: 10, noNaN: true }),
  },
  { requiredKeys: ["top_fraction"] },
);

describe("keep rule", () => {
  it("is a pure function of (seed, domain, id, score): any order of asking, any subset, gives the same answers", () => {
    fc.assert(
      fc.property(scoresArb, policyArb, fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 100 }), (scores, p, seed, domain) => {
        if (p.sample !== undefined && p.rate === undefined) p = { ...p, sample: undefined, temperature: undefined };
        if (p.sample === undefined) p = { ...p, temperature: undefined, rate: undefined };
        const pol = policy(p);
        const plan = planSelection(pol, seed, domain, scores);
        const { kept } = applyPlan(plan, scores.length, scores);
        // Backwards, one by one, from a plan recomputed from scratch: the same set.
        const again = planSelection(pol, seed, domain, Float64Array.from(scores));
        const mine: number[] = [];
        for (let id = scores.length - 1; id >= 0; id--) if (keepReason(again, id, scores[id]) === "kept") mine.push(id);
        expect(Uint32Array.from(mine.reverse())).toEqual(kept);
      }),
      { numRuns: 150 },
    );
  });

  it("top_fraction keeps round(f·N) documents (± 1), the best scores, ties to the lower id", () => {
    fc.assert(
      fc.property(scoresArb, fc.double({ min: 0.01, max: 1, noNaN: true }), fc.constantFrom("high", "low"), (scores, f, prefer) => {
        const pol = policy({ top_fraction: f, prefer });
        const { kept, dropped } = applyPlan(planSelection(pol, 1, 0, scores), scores.length, scores);
        expect(Math.abs(kept.length - f * scores.length)).toBeLessThanOrEqual(1);
        expect(kept.length + dropped.top_fraction).toBe(scores.length);
        const sign = prefer === "high" ? 1 : -1;
        const keptSet = new Set(kept);
        for (let i = 0; i < scores.length; i++)
          for (const j of kept) {
            if (keptSet.has(i)) continue;
            // No dropped document is better than a kept one, or equal with a lower id.
            expect(sign * scores[i] < sign * scores[j] || (scores[i] === scores[j] && i > j)).toBe(true);
          }
      }),
      { numRuns: 100 },
    );
  });

  it("threshold and top fraction do not depend on the seed; sampling does, and hits its rate", () => {
    const scores = Float64Array.from({ length: 4000 }, (_, i) => 0.001 + ((i * 7919) % 1000) / 1000);
    const thr = policy({ min: 0.25, max: 0.75, top_fraction: 0.5 });
    const a = applyPlan(planSelection(thr, 1, 0, scores), scores.length, scores).kept;
    const b = applyPlan(planSelection(thr, 99, 3, scores), scores.length, scores).kept;
    expect(b).toEqual(a);
    for (const sample of ["inverse_density", "tempered"]) {
      const pol = policy({ sample, rate: 0.3 });
      const s1 = applyPlan(planSelection(pol, 1, 0, scores), scores.length, scores);
      const s2 = applyPlan(planSelection(pol, 2, 0, scores), scores.length, scores);
      expect(s1.kept).not.toEqual(s2.kept);
      // Binomial: mean 1200, sd ≤ 29; 5 sd.
      for (const s of [s1, s2]) expect(Math.abs(s.kept.length - 1200)).toBeLessThan(150);
    }
  });

  it("inverse_density keeps sparse documents more often than dense ones (∝ 1/score)", () => {
    const scores = Float64Array.from({ length: 6000 }, (_, i) => (i % 2 === 0 ? 0.01 : 0.04));
    const { kept } = applyPlan(planSelection(policy({ sample: "inverse_density", rate: 0.25 }), 5, 1, scores), scores.length, scores);
    const sparse = [...kept].filter((id) => id % 2 === 0).length;
    const dense = kept.length - sparse;
    // p ∝ 1/s: sparse kept 4× as often (0.4 vs 0.1).
    expect(sparse / dense).toBeGreaterThan(3.3);
    expect(sparse / dense).toBeLessThan(4.8);
  });

  it("duplicates go first, then bad scores, each counted by reason", () => {
    const scores = Float64Array.from([1, NaN, 3, 4, 5, 6]);
    const dups: DuplicateIds = { dropped: Uint32Array.from([1, 4]), reason: Uint8Array.from([2, 1]) };
    const pol = policy({ min: 3.5 });
    const { kept, dropped } = applyPlan(planSelection(pol, 0, 0, scores, dups), scores.length, scores, dups);
    expect([...kept]).toEqual([3, 5]);
    expect(dropped).toMatchObject({ near_dup: 1, exact_dup: 1, threshold: 2, bad_score: 0 });
    const noDups = applyPlan(planSelection(pol, 0, 0, scores), scores.length, scores);
    expect(noDups.dropped.bad_score).toBe(1);
  });

  it("waterFill: Σ min(1, c·w) equals the target", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 1e-3, max: 1e3, noNaN: true }), { minLength: 1, maxLength: 200 }),
        fc.double({ min: 0.01, max: 0.99, noNaN: true }),
        (ws, r) => {
          const w = Float64Array.from(ws);
          const c = waterFill(w, r * w.length);
          let sum = 0;
          for (const x of w) sum += Math.min(1, c * x);
          expect(sum).toBeCloseTo(r * w.length, 6);
        },
      ),
    );
  });
});

describe("config select block", () => {
  const withSelect = (select: unknown) => () =>
    parseConfig(smallBrownConfig({ domains: [{ name: "a", sources: [{ type: "jsonl", path: "x.jsonl" }], select }] }), ROOT);
  it.each([
    [{ min: 2, max: 1 }, /domains\[0\]\.select\.min: min 2 is above max 1/],
    [{ sample: "tempered" }, /domains\[0\]\.select\.rate: sample "tempered" needs a rate/],
    [{ rate: 0.5 }, /domains\[0\]\.select\.sample: rate needs sample/],
    [{ top_fraction: 0 }, /domains\[0\]\.select\.top_fraction/],
    [{ score: "s" }, /select: select needs at least one of min, max, top_fraction, sample/],
    [{ min: 0, temperature: 2 }, /select\.temperature: temperature applies to sample "tempered" only/],
    [{ min: 0, bogus: 1 }, /select: Unrecognized key/],
  ])("%j is refused naming the field", (select, message) => {
    expect(withSelect(select)).toThrow(message);
  });
});
