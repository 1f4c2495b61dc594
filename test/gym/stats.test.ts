import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { meanInterval, pairedComparison, signTest } from "../../src/gym/stats.js";
import { oracleMean, oracleWorstExcess, staticLosses, type OracleWorld } from "../../src/gym/oracle.js";

describe("gym statistics over seeds", () => {
  it("gives the textbook t-interval", () => {
    // mean 3, sd 1.5811, t(0.975, 4) = 2.776 → half-width 1.963
    const i = meanInterval([1, 2, 3, 4, 5]);
    expect(i.mean).toBe(3);
    expect(i.hi - i.mean).toBeCloseTo((2.776 * Math.sqrt(2.5)) / Math.sqrt(5), 6);
    expect(meanInterval([1, NaN, 3]).n).toBe(2);
  });

  it("sign test: exact binomial tails", () => {
    expect(signTest(5, 0)).toBeCloseTo(2 / 32, 12);
    expect(signTest(4, 1)).toBeCloseTo(12 / 32, 12);
    expect(signTest(0, 0)).toBe(1);
  });

  it("marks a difference only when both intervals exclude 0, and is reproducible", () => {
    const better = pairedComparison([1.0, 1.1, 0.9, 1.05, 0.95], [1.2, 1.3, 1.1, 1.25, 1.15]);
    expect(better.verdict).toBe("better");
    expect(better.wins).toBe(5);
    expect(better.hi).toBeLessThan(0);
    const noisy = pairedComparison([1, 2, 3, 4, 5], [1.5, 1.5, 3.5, 3.5, 5.5]);
    expect(noisy.verdict).toBe("tie");
    fc.assert(
      fc.property(fc.array(fc.double({ min: -5, max: 5, noNaN: true }), { minLength: 2, maxLength: 8 }), (d) => {
        const zero = d.map(() => 0);
        const p = pairedComparison(d, zero);
        expect(p).toEqual(pairedComparison(d, zero));
        expect(p.lo).toBeLessThanOrEqual(p.delta + 1e-12);
        expect(p.hi).toBeGreaterThanOrEqual(p.delta - 1e-12);
        if (p.verdict === "better") expect(p.hi).toBeLessThan(0);
        if (p.verdict === "worse") expect(p.lo).toBeGreaterThan(0);
      }),
    );
  });
});

describe("the synthetic oracle", () => {
  const world: OracleWorld = {
    laws: [
      { E: 2, B: 30, beta: 0.3 },
      { E: 3, B: 10, beta: 0.2 },
      { E: 1.5, B: 60, beta: 0.4 },
    ],
    tau: 0.1,
    offset: 1000,
    total: 1e6,
  };
  const simplex = fc
    .tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }))
    .filter((w) => w[0] + w[1] + w[2] > 1e-6)
    .map((w) => w.map((x) => x / (w[0] + w[1] + w[2])));
  const mean = (l: Float64Array) => l.reduce((a, b) => a + b, 0) / l.length;

  it("no mixture has a lower mean loss than the mean oracle", () => {
    const best = mean(staticLosses(world, oracleMean(world)));
    fc.assert(
      fc.property(simplex, (w) => {
        expect(mean(staticLosses(world, w))).toBeGreaterThanOrEqual(best - 1e-9);
      }),
    );
  });

  it("no mixture has a lower worst excess than the worst-excess oracle; at the optimum the excesses are equal where weight is positive", () => {
    const ref = staticLosses(world, [0.5, 0.3, 0.2]).map((x, i) => x + [0.01, -0.02, 0.03][i]);
    const worst = (w: ArrayLike<number>) => Math.max(...Array.from(staticLosses(world, w), (l, i) => l - ref[i]));
    const w = oracleWorstExcess(world, ref);
    expect(w.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    const best = worst(w);
    fc.assert(
      fc.property(simplex, (v) => {
        expect(worst(v)).toBeGreaterThanOrEqual(best - 1e-9);
      }),
    );
    const ex = Array.from(staticLosses(world, w), (l, i) => l - ref[i]);
    for (let i = 0; i < 3; i++) if (w[i] > 1e-6) expect(ex[i]).toBeCloseTo(best, 6);
  });
});
