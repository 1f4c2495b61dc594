/**
 * The Python client's `provenance(step)` against a real `mixload serve` (world 2, JSONL + Parquet
 * sources, llama3 tokenizer, TCP): arrays and dtypes from the schema, segments tiling the batch,
 * `segment_at`, an evicted step's error, unknown fields refused (check_provenance.py); and the
 * records Python received equal `mixload provenance`'s offline rebuild of the same steps.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { stepReport } from "../../src/cli/provenance.js";
import { readRunDir } from "../../src/replay/run-dir.js";
import { writeProvenanceRun } from "../serve/provenance-fixture.js";
import { describePython, explain, runPython, startService, stopService, type Service } from "./helpers.js";

describePython("Python client provenance(step)", { needsService: true }, () => {
  let svc: Service | undefined;
  let dir: string | undefined;
  beforeAll(async () => {
    const run = await writeProvenanceRun("py");
    dir = run.dir;
    svc = await startService(run.config);
  }, 180_000);
  afterAll(async () => {
    await stopService(svc);
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("answers every (step, rank) with the schema's arrays, equal to the offline rebuild", async () => {
    const out = path.join(dir!, "python-provenance.json");
    const r = await runPython([path.join(import.meta.dirname, "check_provenance.py"), svc!.control, out], 180_000);
    expect(r.code, explain(r, svc)).toBe(0);
    for (const line of ["ok provenance of 10 steps x 2 ranks", "ok an evicted step is step_out_of_range", "ok unknown fields refused", "all checks passed"]) {
      expect(r.stdout).toContain(line);
    }
    const got = JSON.parse(fs.readFileSync(out, "utf8")) as Record<string, unknown[]>;
    const step = 7;
    const offline = await stepReport(readRunDir(svc!.runDir), step, undefined, 1);
    for (const { rank, segments } of offline.ranks) expect(got[`${step}/${rank}`], `step ${step} rank ${rank}`).toEqual(segments);
  }, 240_000);
});
