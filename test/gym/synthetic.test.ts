import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseGymConfig } from "../../src/gym/config.js";
import { allocate, runSynthetic, SyntheticWorld } from "../../src/gym/synthetic.js";
import { loadGymConfig } from "../../src/gym/config.js";
import { ROOT } from "../helpers/fixtures.js";
import path from "node:path";

const law = (E: number, B: number, beta: number, tokens = 1e5) => ({ E, B, beta, tokens });

function gym(synthetic: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return parseGymConfig(
    {
      seq_len: 64,
      batch_size: 4,
      tokenizer: { path: "unused.json" },
      domains: ["a", "b", "c"].map((name) => ({ name, sources: [{ type: "text", path: "unused" }] })),
      gym: { steps: 100, eval_every: 10, synthetic, ...extra },
    },
    ROOT,
  );
}

describe("gym --synthetic", () => {
  it("allocates exactly T tokens in proportion to the weights", () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 20 }), fc.integer({ min: 1, max: 10_000 }), (w, T) => {
        fc.pre(w.some((x) => x > 0));
        const n = allocate(w, T);
        const sum = w.reduce((a, b) => a + b, 0);
        expect(n.reduce((a, b) => a + b, 0)).toBe(T);
        n.forEach((x, i) => expect(Math.abs(x - (w[i] / sum) * T)).toBeLessThan(1 + 1e-9));
      }),
    );
  });

  it("laws fall with data, transfer helps the other domains", () => {
    const w = new SyntheticWorld([law(2, 10, 0.3), law(3, 5, 0.2)], { transfer: 0.5, offset_tokens: 100 });
    const before = w.losses();
    w.serve([1000, 0]);
    const after = w.losses();
    expect(after[0]).toBeLessThan(before[0]);
    expect(after[1]).toBeLessThan(before[1]);
    expect(before[0] - after[0]).toBeGreaterThan(before[1] - after[1]);
  });

  it("is deterministic, runs every mixer, and the reference mix has no excess over itself", () => {
    const g = gym({ laws: { a: law(2, 30, 0.3, 1e5), b: law(3, 10, 0.2, 5e4), c: law(1.5, 60, 0.4, 1e4) } });
    const mixers = ["uniform", "natural", "doremi", "doge", "velocitune", "bimix", "odm", "ado"];
    const r1 = runSynthetic(g, { mixers, seeds: 2 });
    const r2 = runSynthetic(g, { mixers, seeds: 2 });
    const strip = (r: typeof r1) => JSON.stringify(r.mixers.map((m) => ({ ...m, wall_seconds: 0, runs: m.runs.map((x) => ({ ...x, wall_seconds: 0 })) })));
    expect(strip(r1)).toBe(strip(r2));
    for (const m of r1.mixers) {
      expect(m.errors).toEqual([]);
      expect(m.runs.length).toBe(2);
      expect(m.metrics.mean!.mean).toBeLessThan(r1.mixers[0].curve[0].mean.mean + 1);
      expect(m.curve.length).toBe(10);
      // the oracle is a lower bound for every schedule (final losses depend only on final totals)
      expect(m.regret!.mean!.vs_oracle.mean).toBeGreaterThan(-1e-3);
      expect(m.regret!.worst_excess!.vs_oracle.mean).toBeGreaterThan(-1e-3);
    }
    const natural = r1.mixers.find((m) => m.name === "natural")!;
    expect(natural.metrics.worst_excess!.mean).toBeCloseTo(0, 12);
    const doremi = r1.mixers.find((m) => m.name === "doremi")!;
    expect(doremi.runs[0].weights.end).not.toEqual(doremi.runs[0].weights.start);
    expect(doremi.vs_uniform!.objective).toBe("worst_excess");
  });

  it("runs the shipped Brown config's fitted laws in well under a second", () => {
    const g = loadGymConfig(path.join(ROOT, "examples/configs/gym-brown.json"));
    const t0 = Date.now();
    const r = runSynthetic(g, { mixers: ["uniform", "doremi", "doge", "odm"], seeds: 2 });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(r.domains.length).toBe(15);
    expect(r.mixers.every((m) => m.errors.length === 0 && Number.isFinite(m.metrics.mean!.mean))).toBe(true);
  });

  it("DoReMi lowers worst-domain excess below uniform's on the Brown laws (the oracle's check of a correct DoReMi)", () => {
    const g = loadGymConfig(path.join(ROOT, "examples/configs/gym-brown.json"));
    const r = runSynthetic(g, { mixers: ["uniform", "doremi"], seeds: 3 });
    const doremi = r.mixers[1];
    expect(doremi.vs_uniform!.objective).toBe("worst_excess");
    expect(doremi.vs_uniform!.verdict).toBe("better");
    expect(doremi.vs_uniform!.wins).toBe(3);
    // the worst-excess oracle is the reference mix itself: nothing has negative excess
    expect(r.oracle!.find((o) => o.objective === "worst_excess")!.value).toBeCloseTo(0, 3);
  });

  it("needs laws for every domain", () => {
    expect(() => runSynthetic(gym({ laws: { a: law(2, 1, 0.3) } }), { mixers: ["uniform"] })).toThrow(/gym\.synthetic\.laws\.b/);
  });
});
