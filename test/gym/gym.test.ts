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

const withoutTimes = (r: GymReport) =>
  JSON.stringify({
    ...r,
    wall_seconds: 0,
    tokenize_seconds: 0,
    mixers: r.mixers.map((m) => ({ ...m, wall_seconds: 0, runs: m.runs.map((x) => ({ ...x, wall_seconds: 0 })) })),
  });

describe("mixload gym (real learner through the loader)", () => {
  it("is deterministic over 2 seeds, feeds the mixers, and reports every objective with intervals", async () => {
    const g = smallGym();
    const a = await runGym(g, { mixers: ["uniform", "doremi", "doge"], seeds: 2 });
    const b = await runGym(g, { mixers: ["uniform", "doremi", "doge"], seeds: 2 });
    expect(withoutTimes(a)).toBe(withoutTimes(b));
    expect(a.seeds).toEqual([3, 4]);

    const [uniform, doremi, doge] = a.mixers;
    for (const m of a.mixers) {
      expect(m.errors).toEqual([]);
      expect(m.runs.map((r) => r.seed)).toEqual([3, 4]);
      expect(Object.keys(m.heldout)).toEqual(["news", "religion", "humor"]);
      expect(m.curve.map((c) => c.step)).toEqual([6, 12, 18, 24]);
      // learning happened: held-out loss fell below the uniform-over-vocabulary start
      const mean = m.metrics.mean!;
      expect(mean.mean).toBeLessThan(Math.log(4096));
      expect(mean.lo).toBeLessThanOrEqual(mean.mean);
      expect(mean.hi).toBeGreaterThanOrEqual(mean.mean);
      // the seeds differ (split and order), so the runs do
      expect(m.runs[0].mean).not.toBe(m.runs[1].mean);
    }
    // feedback reached the mixers (lag 2): their weights left the uniform start
    const run0 = (m: typeof doremi) => m.runs[0];
    expect(run0(uniform).weights.end).toEqual(run0(uniform).weights.start);
    const moved = (m: typeof doremi) => Object.keys(run0(m).weights.end).some((d) => Math.abs(run0(m).weights.end[d] - 1 / 3) > 1e-3);
    expect(moved(doremi)).toBe(true);
    expect(moved(doge)).toBe(true);
    expect(doremi.params.signals).toEqual({ news: "excess_loss_sum", religion: "excess_loss_sum", humor: "excess_loss_sum" });
    // same data, different mixes ⇒ different learners
    expect(run0(doremi).heldout).not.toEqual(run0(uniform).heldout);
    expect(doremi.vs_uniform?.objective).toBe("worst_excess");
    expect(doge.vs_uniform?.objective).toBe("mean");
    expect(doremi.vs_uniform!.wins + doremi.vs_uniform!.losses).toBeLessThanOrEqual(2);
    expect(uniform.vs_uniform).toBeNull();
    expect(Object.values(a.reference.entropy!).every((h) => h > 0 && Number.isFinite(h))).toBe(true);
    // gym.heldout names other files: every document of the domain is train or reference
    for (const d of ["news", "religion", "humor"]) expect(a.split!.train[d] + a.split!.reference[d]).toBeGreaterThan(a.split!.reference[d]);
  });

  it("splits by document when no held-out files are named, evaluates the target set, and DoGE aligns to it in target mode", async () => {
    const g = smallGym();
    const tg = parseGymConfig(
      {
        ...g.raw,
        gym: {
          steps: 12,
          eval_every: 6,
          doge_lr: 1,
          split: { reference: 0.3, heldout: 0.2 },
          target: { name: "lore", sources: text("cf01") },
          doge_target: true,
          weight_checks: [{ lower: "humor", than: "news" }],
        },
      },
      ROOT,
    );
    const r = await runGym(tg, { mixers: ["uniform", "doge"], seeds: 2 });
    const [uniform, doge] = r.mixers;
    // every domain has all three parts, and the held-out part is what was evaluated
    for (const d of ["news", "religion", "humor"]) for (const part of ["train", "reference", "heldout"] as const) expect(r.split![part][d]).toBeGreaterThan(0);
    expect(uniform.metrics.target!.mean).toBeGreaterThan(0);
    expect(doge.vs_uniform!.objective).toBe("target");
    expect(doge.runs[0].weights.end).not.toEqual(doge.runs[0].weights.start);
    expect(uniform.weight_checks[0]).toMatchObject({ lower: "humor", than: "news", of: 2 });
  });

  it("reports a mixer that cannot run instead of aborting the comparison", async () => {
    const g = smallGym();
    const r = await runGym({ ...g, gym: { ...g.gym, mixers: { doremi: { eta: -1 } } } }, { mixers: ["uniform", "doremi"], steps: 3, seeds: 1 });
    expect(r.mixers[0].errors).toEqual([]);
    expect(r.mixers[1].errors[0]).toMatch(/mixer\.params\.eta/);
  });
});
