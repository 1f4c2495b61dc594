/**
 * The batch builder (src/serve/builder.ts): the Loader in a worker thread must build exactly
 * what it builds in the calling thread — same bytes, digests, per-rank counts and states, for
 * any weight schedule — and continue identically from a state taken at any step.
 */
import { afterAll, describe, expect, it } from "vitest";
import { batchDigest } from "../../src/batch/assemble.js";
import { loadConfig } from "../../src/config/load.js";
import { openBuilder, rankCounts, unpackState, type BatchBuilder, type BuildResult } from "../../src/serve/builder.js";
import { tempDir, writeConfig } from "./helpers.js";

const dir = tempDir();
const loaded = loadConfig(writeConfig(dir, "builder"));
const opened: BatchBuilder[] = [];

async function open(mode: "worker" | "inline"): Promise<BatchBuilder> {
  const b = await openBuilder(loaded, { mode, workers: 1 });
  opened.push(b);
  return b;
}

/** A weight schedule that changes every step, like a dynamic mixer's. */
const weightsAt = (step: number): number[] => [1 + (step % 3), 1 + ((step * 5) % 7), 0.5 + (step % 2)];

async function run(b: BatchBuilder, from: number, to: number): Promise<BuildResult[]> {
  const out: BuildResult[] = [];
  for (let s = from; s < to; s++) {
    const r = await b.build(weightsAt(s));
    if (r === null) throw new Error("unexpected end of data");
    out.push(r);
  }
  return out;
}

afterAll(async () => {
  await Promise.all(opened.map((b) => b.close()));
});

describe("batch builder: worker thread vs calling thread", () => {
  it("same info, batches, digests, per-rank counts and states step for step; resumes identically", async () => {
    const [worker, inline] = await Promise.all([open("worker"), open("inline")]);
    expect(worker.mode).toBe("worker");
    expect(worker.info).toEqual(inline.info);
    expect(Buffer.from(worker.state)).toEqual(Buffer.from(inline.state));
    const steps = 12;
    const [a, b] = await Promise.all([run(worker, 0, steps), run(inline, 0, steps)]);
    expect(worker.step).toBe(steps);
    for (let s = 0; s < steps; s++) {
      expect(a[s].digest).toBe(b[s].digest);
      expect(a[s].digest).toBe(batchDigest(a[s].batch)); // the transferred arrays arrived intact
      expect(Buffer.from(a[s].stateAfter)).toEqual(Buffer.from(b[s].stateAfter));
      expect(unpackState(a[s].stateAfter).step).toBe(s + 1);
      const counts = rankCounts(a[s].batch, loaded.config.world, worker.info.domains.length);
      expect(Array.from(a[s].rankTokens)).toEqual(Array.from(counts.rankTokens));
      expect(Array.from(a[s].rankDomainTokens)).toEqual(Array.from(counts.rankDomainTokens));
      expect(a[s].rankTokens.reduce((x, y) => x + y, 0)).toBe(a[s].batch.tokens);
    }
    expect(worker.stats).toEqual(inline.stats);

    // A fresh worker restored from the state after step 5 continues with steps 6.. exactly.
    const resumed = await open("worker");
    await resumed.restore(unpackState(a[5].stateAfter));
    expect(resumed.step).toBe(6);
    const c = await run(resumed, 6, steps);
    expect(c.map((r) => r.digest)).toEqual(a.slice(6).map((r) => r.digest));
  }, 60_000);

  it("a loader error in the worker rejects the build with its message, and close() still works", async () => {
    const b = await open("worker");
    await expect(b.build([1, 2])).rejects.toThrow(/expected 3 weights, got 2/);
    await b.close();
    await expect(b.build([1, 1, 1])).rejects.toThrow(/closed/);
  }, 30_000);
});
