/**
 * Replay of a recorded DoReMi run: every batch rebuilds from config + seed + schedule; an
 * edited log fails at the edited step; schedule export; counterfactual mixers; --serve plays
 * the recorded batches back over the protocol. The CLI runs as a real child process.
 */
import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MixloadClient } from "../../src/client/client.js";
import { Loader } from "../../src/loader/loader.js";
import { DoremiMixer } from "../../mixers/doremi.js";
import { createMixer } from "../../mixers/registry.js";
import { feedbackOf } from "../../src/replay/counterfactual.js";
import { readRunDir, RecordedSchedule, toArray } from "../../src/replay/run-dir.js";
import { globalDigest } from "../serve/helpers.js";
import { CLI, copyRun, DOMAINS, recordRun, tempDir } from "./fixture.js";

const STEPS = 40;
let dir: string;
let runDir: string;

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** Rewrite schedule.jsonl line by line. */
function editLog(run: string, edit: (r: Record<string, unknown>) => Record<string, unknown>): void {
  const file = path.join(run, "schedule.jsonl");
  const lines = fs
    .readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.stringify(edit(JSON.parse(l) as Record<string, unknown>)));
  fs.writeFileSync(file, `${lines.join("\n")}\n`);
}

beforeAll(async () => {
  dir = tempDir();
  ({ runDir } = await recordRun(dir, STEPS));
}, 120_000);

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("replay --verify", () => {
  it("rebuilds every recorded step of a DoReMi run, and the schedule re-derives from the feedback", async () => {
    const run = readRunDir(runDir);
    expect(run.feedback.length).toBe(STEPS);
    // The weights really moved: DoReMi's last weights are not uniform.
    const last = toArray(run.domains, run.weights.at(-1)!.weights);
    expect(Math.max(...last) - Math.min(...last)).toBeGreaterThan(0.01);
    const r = await cli(["replay", "--log", runDir, "--verify"]);
    expect(r.stdout).toMatch(/OK — all \d+ steps rebuilt/);
    expect(r.stdout).toContain(`${STEPS} recorded weight changes re-derived`);
    expect(r.code).toBe(0);
  });

  it("an edited digest fails at that step, naming it", async () => {
    const edited = copyRun(runDir, path.join(dir, "edited-digest"));
    editLog(edited, (r) => (r.type === "batch" && r.step === 17 ? { ...r, digest: "0".repeat(64) } : r));
    const r = await cli(["replay", "--log", edited, "--verify"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("FAILED at step 17: digest differs");
  });

  it("an edited weight change fails at its effective step (the batch is built from other weights)", async () => {
    const edited = copyRun(runDir, path.join(dir, "edited-weights"));
    editLog(edited, (r) => {
      if (r.type !== "weights" || r.effective_step !== 12) return r;
      const w = { ...(r.weights as Record<string, number>) };
      w.news += 0.05;
      w.humor -= 0.05;
      return { ...r, weights: w };
    });
    const r = await cli(["replay", "--log", edited, "--verify", "--json"]);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { ok: boolean; first: { step: number; what: string } };
    expect(out.ok).toBe(false);
    expect(out.first.step).toBe(12);
    // the batch record still holds the original weights, and the mixer re-derives the originals too
    expect(["weights", "schedule"]).toContain(out.first.what);
  });
});

describe("schedule export", () => {
  it("--as static is DoReMi's averaged weights ᾱ over the run's updates", async () => {
    const r = await cli(["schedule", "export", "--log", runDir, "--as", "static"]);
    expect(r.code).toBe(0);
    const fragment = JSON.parse(r.stdout) as { mixer: { name: string; params: { weights: Record<string, number> } } };
    expect(fragment.mixer.name).toBe("static");
    const run = readRunDir(runDir);
    const loader = await Loader.open(run.loaded, { workers: 0 });
    const mixer = createMixer(run.loaded.config.mixer, await loader.domainInfo()) as DoremiMixer;
    await loader.close();
    for (const fb of run.feedback) mixer.update(feedbackOf(run.domains, fb));
    const avg = mixer.averageWeights();
    DOMAINS.forEach((d, i) => expect(fragment.mixer.params.weights[d]).toBeCloseTo(avg[i], 5));
    // and it is a valid static mixer config
    expect(() =>
      createMixer(
        fragment.mixer,
        DOMAINS.map((name) => ({ name, tokens: 1 })),
      ),
    ).not.toThrow();
  });

  it("--as phases --phases 4 --retime: phase means of the recorded weights, boundaries stretched", async () => {
    const r = await cli(["schedule", "export", "--log", runDir, "--as", "phases", "--phases", "4", "--retime", "4000"]);
    expect(r.code).toBe(0);
    const phases = (JSON.parse(r.stdout) as { mixer: { params: { phases: { until_step?: number; weights: Record<string, number> }[] } } }).mixer.params.phases;
    expect(phases).toHaveLength(4);
    const run = readRunDir(runDir);
    const s = new RecordedSchedule(run);
    const T = s.length;
    expect(phases.slice(0, 3).map((p) => p.until_step)).toEqual([1, 2, 3].map((k) => Math.round((Math.round((k * T) / 4) * 4000) / T)));
    expect(phases[3].until_step).toBeUndefined();
    // first phase = mean of the per-step weights over its steps
    const end = Math.round(T / 4);
    DOMAINS.forEach((d, i) => {
      let m = 0;
      for (let t = 0; t < end; t++) m += s.weights(t)[i] / end;
      expect(phases[0].weights[d]).toBeCloseTo(m, 5);
    });
    const mixer = createMixer(
      { name: "static", params: { phases } },
      DOMAINS.map((name) => ({ name, tokens: 1 })),
    );
    expect(mixer.weights(3999)).toHaveLength(4);
  });
});

describe("replay --mixer (counterfactual)", () => {
  it("the recorded mixer reproduces the recorded schedule; another mixer's trajectory is labelled counterfactual", async () => {
    const same = path.join(dir, "cf-doremi.json");
    const run = readRunDir(runDir);
    const r1 = await cli(["replay", "--log", runDir, "--mixer", "doremi", "--params", JSON.stringify(run.loaded.config.mixer.params), "--out", same]);
    expect(r1.code).toBe(0);
    const t1 = JSON.parse(fs.readFileSync(same, "utf8")) as { counterfactual: boolean; points: { step: number; weights: Record<string, number> }[] };
    expect(t1.counterfactual).toBe(true);
    const recorded = new Map(run.weights.map((w) => [w.effective_step, w.weights]));
    for (const p of t1.points) expect(p.weights).toEqual(recorded.get(p.step));

    const r2 = await cli(["replay", "--log", runDir, "--mixer", "odm", "--params", '{"smoothing":0.3}']);
    expect(r2.code).toBe(0);
    expect(r2.stdout).toMatch(/^COUNTERFACTUAL/);
    const t2 = JSON.parse(fs.readFileSync(path.join(runDir, "counterfactual-odm.json"), "utf8")) as {
      counterfactual: boolean;
      note: string;
      mixer: string;
      points: unknown[];
    };
    expect(t2).toMatchObject({ counterfactual: true, mixer: "odm" });
    expect(t2.note).toContain("would have differed");
    expect(t2.points).toHaveLength(STEPS + 1);
  });
});

describe("replay --serve", () => {
  it("serves the recorded batches over PROTOCOL v1 with no feedback, digest for digest", async () => {
    const child = spawn(
      process.execPath,
      [CLI, "replay", "--log", runDir, "--serve", "--control", "tcp://127.0.0.1:*", "--weights", "tcp://127.0.0.1:*", "--run-dir", path.join(dir, "served")],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const exit = new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
    try {
      const end = Date.now() + 60_000;
      while (!/control (tcp:\/\/\S+)/.test(err)) {
        if (Date.now() > end) throw new Error(`replay --serve did not start: ${err}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const endpoint = /control (tcp:\/\/\S+)/.exec(err)![1];
      const client = new MixloadClient({ endpoint, notReadyWaitMs: 0 });
      const hello = await client.hello(0, 1);
      expect(hello.domains).toEqual(DOMAINS);
      expect(hello.needs_feedback).toBe(false);
      const run = readRunDir(runDir);
      for (let s = 0; s < STEPS; s++) {
        const b = await client.batch(s, 0);
        expect(globalDigest([b])).toBe(run.batches[s].digest);
      }
      client.close();
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exit).toBe(0);
    // the original log was not touched
    expect(fs.existsSync(path.join(dir, "served", "schedule.jsonl"))).toBe(true);
  });
});
