import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CountMap } from "../../src/gym/count-map.js";
import { KneserNeyTrigram } from "../../src/gym/ngram.js";

const V = 12;
const seq = fc.array(fc.integer({ min: 0, max: V - 1 }), { minLength: 0, maxLength: 200 });

function train(lm: KneserNeyTrigram, xs: readonly number[]): void {
  for (let t = 0; t < xs.length; t++) lm.add(t >= 2 ? xs[t - 2] : lm.bos, t >= 1 ? xs[t - 1] : lm.bos, xs[t]);
}

describe("KneserNeyTrigram", () => {
  it("is a distribution over the vocabulary for every context, whatever it was trained on", () => {
    fc.assert(
      fc.property(seq, fc.integer({ min: 0, max: V }), fc.integer({ min: 0, max: V }), fc.double({ min: 0.05, max: 0.95, noNaN: true }), (xs, u, v, D) => {
        const lm = new KneserNeyTrigram(V, { discount: D });
        train(lm, xs);
        let sum = 0;
        for (let w = 0; w < V; w++) {
          const p = lm.prob(u, v, w);
          expect(p).toBeGreaterThan(0);
          sum += p;
        }
        expect(sum).toBeCloseTo(1, 12);
      }),
      { numRuns: 300 },
    );
  });

  it("is uniform before any data", () => {
    const lm = new KneserNeyTrigram(V);
    expect(lm.prob(lm.bos, lm.bos, 3)).toBeCloseTo(1 / V, 15);
  });

  it("prequential loss on a repeated document falls with every pass", () => {
    const doc = Int32Array.from({ length: 300 }, (_, i) => (i * 7 + ((i * i) % 5)) % V);
    const lm = new KneserNeyTrigram(V);
    const rows = { input_ids: doc.subarray(0, -1), targets: doc.subarray(1), position_ids: Int32Array.from({ length: doc.length - 1 }, (_, i) => i) };
    const out = new Float64Array(rows.targets.length);
    const losses: number[] = [];
    for (let pass = 0; pass < 4; pass++) {
      lm.scoreBatch(rows, out); // before training on it
      losses.push(out.reduce((a, b) => a + b, 0) / out.length);
      lm.trainBatch(rows);
    }
    expect(losses[0]).toBeCloseTo(Math.log(V), 12);
    for (let i = 1; i < losses.length; i++) expect(losses[i]).toBeLessThan(losses[i - 1]);
    // evaluate() scores documents the way training rows are scored
    const ev = lm.evaluate([doc], 1 << 20);
    lm.scoreBatch(rows, out);
    expect(ev.tokens).toBe(out.length);
    expect(ev.lossSum).toBeCloseTo(
      out.reduce((a, b) => a + b, 0),
      9,
    );
  });

  it("skips ignored targets (−100) in scoring and training", () => {
    const lm = new KneserNeyTrigram(V);
    const rows = { input_ids: Int32Array.of(1, 2, 3), targets: Int32Array.of(2, -100, 4), position_ids: Int32Array.of(0, 1, 0) };
    const out = new Float64Array(3);
    lm.scoreBatch(rows, out);
    expect(Number.isNaN(out[1])).toBe(true);
    lm.trainBatch(rows);
    expect(lm.types).toBe(2);
  });
});

describe("CountMap", () => {
  it("behaves like a Map of counts through growth", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2 ** 40 }), { maxLength: 3000 }), (keys) => {
        const m = new CountMap(2, 2);
        const ref = new Map<number, number>();
        for (const k of keys) {
          const s = m.slot(k);
          m.vals[2 * s + 1] += 1;
          ref.set(k, (ref.get(k) ?? 0) + 1);
        }
        expect(m.size).toBe(ref.size);
        for (const [k, c] of ref) expect(m.get(k, 1)).toBe(c);
        expect(m.find(2 ** 41)).toBe(-1);
      }),
      { numRuns: 50 },
    );
  });
});
