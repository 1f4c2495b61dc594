import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseGymConfig } from "../../src/gym/config.js";
import { runGym } from "../../src/gym/run.js";
import type { GymReport } from "../../src/gym/report.js";
import { BROWN, ROOT } from "../helpers/fixtures.js";

const TOK = path.join(ROOT, "examples/tokenizers/brown-4k");
const text = (glob: string) => [{ type: "text", path: BROWN, glob, split: "paragraph", transform: "brown_pos" }];

/** Three genres; training reads files 02–04 of each, the held-out set is file 01. */
function smallGym() {
  return parseGymConfig(
    {
      seed: 3,
      seq_len: 128,
      batch_size: 4,
      tokenizer: { path: path.join(TOK, "tokenizer.json"), config: path.join(TOK, "tokenizer_config.json"), workers: 0 },
      packing: { strategy: "best_fit", buffer_docs: 64 },
      domains: [
        { name: "news", sources: text("ca0[2-4]") },
        { name: "religion", sources: text("cd0[2-4]") },
        { name: "humor", sources: text("cr0[2-4]") },
      ],
      gym: {
        steps: 24,
        eval_every: 6,
        doge_lr: 1,
        mixers: { doremi: { eta: 0.5 } },
        heldout: [
          { name: "news", sources: text("ca01") },
          { name: "religion", sources: text("cd01") },
          { name: "humor", sources: text("cr01") },
        ],
      },
    },
    ROOT,
  );
}

const withoutTimes = (r: GymReport) => JSON.stringify({ ...r, mixers: r.mixers.map((m) => ({ ...m, wall_seconds: 0 })) });

describe("mixload gym (real learner through the loader)", () => {
  it("is deterministic, feeds the mixers, and reports every objective", async () => {
    const g = smallGym();
    const a = await runGym(g, { mixers: ["uniform", "doremi", "doge"] });
    const b = await runGym(g, { mixers: ["uniform", "doremi", "doge"] });
    expect(withoutTimes(a)).toBe(withoutTimes(b));

    const [uniform, doremi, doge] = a.mixers;
    for (const m of a.mixers) {
      expect(m.error).toBeUndefined();
      expect(Object.keys(m.heldout)).toEqual(["news", "religion", "humor"]);
      expect(m.curve.map((c) => c.step)).toEqual([6, 12, 18, 24]);
      // learning happened: held-out loss fell below the uniform-over-vocabulary start
      expect(m.mean).toBeLessThan(Math.log(4096));
    }
    // feedback reached the mixers (lag 2): their weights left the uniform start
    expect(uniform.weights.end).toEqual(uniform.weights.start);
    const moved = (m: typeof doremi) => Object.keys(m.weights.end).some((d) => Math.abs(m.weights.end[d] - 1 / 3) > 1e-3);
    expect(moved(doremi)).toBe(true);
    expect(moved(doge)).toBe(true);
    expect(doremi.params.signals).toEqual({ news: "excess_loss_sum", religion: "excess_loss_sum", humor: "excess_loss_sum" });
    // same data, different mixes ⇒ different learners
    expect(doremi.heldout).not.toEqual(uniform.heldout);
    expect(doremi.vs_uniform?.objective).toBe("worst_excess");
    expect(doge.vs_uniform?.objective).toBe("mean");
    expect(Object.values(a.reference.entropy!).every((h) => h > 0 && Number.isFinite(h))).toBe(true);
  });

  it("reports a mixer that cannot run instead of aborting the comparison", async () => {
    const g = smallGym();
    const r = await runGym({ ...g, gym: { ...g.gym, mixers: { doremi: { eta: -1 } } } }, { mixers: ["uniform", "doremi"], steps: 3 });
    expect(r.mixers[0].error).toBeUndefined();
    expect(r.mixers[1].error).toMatch(/mixer\.params\.eta/);
  });
});
