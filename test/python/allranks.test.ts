/**
 * Aggregated feedback (issue 13, PROTOCOL.md extension `all_ranks`): a trainer that all-reduces
 * its per-domain sums with torch.distributed sends one feedback per step instead of one per rank,
 * and the recorded schedule — hence every batch — is the same as with per-rank feedback. Two real
 * services, two real ranks (gloo on CPU), DoReMi live.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { BROWN_SMALL, describePython, explain, freePort, runPython, startService, stopService, type Service } from "./helpers.js";

const STEPS = 8;

describePython("Python: all_ranks feedback after torch.distributed all-reduce", { needsService: true }, () => {
  let perRank: Service | undefined;
  let allRanks: Service | undefined;
  let config: string;
  beforeAll(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mixload-allranks-"));
    const base = JSON.parse(fs.readFileSync(BROWN_SMALL, "utf8"));
    const rel = (p: string) => path.resolve(path.dirname(BROWN_SMALL), p);
    base.tokenizer.path = rel(base.tokenizer.path);
    base.tokenizer.config = rel(base.tokenizer.config);
    for (const d of base.domains) for (const s of d.sources) s.path = rel(s.path);
    config = path.join(dir, "world2.json");
    fs.writeFileSync(config, JSON.stringify({ ...base, world: 2, batch_size: 4 }));
    [perRank, allRanks] = await Promise.all([startService(config), startService(config)]);
  }, 180_000);
  afterAll(async () => {
    await stopService(perRank);
    await stopService(allRanks);
  });

  it("records the same schedule and serves the same batches as per-rank feedback", async () => {
    const port = await freePort();
    const ranks = await Promise.all(
      [0, 1].map((rank) =>
        runPython(
          [path.join(import.meta.dirname, "check_allranks.py"), String(rank), String(port), perRank!.control, allRanks!.control, String(STEPS)],
          240_000,
        ),
      ),
    );
    for (const r of ranks) expect(r.code, explain(r, allRanks)).toBe(0);
    const lines = (svc: Service, type: string) =>
      fs
        .readFileSync(path.join(svc.runDir, "schedule.jsonl"), "utf8")
        .split("\n")
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as { type: string; t?: number; [k: string]: unknown })
        .filter((l) => l.type === type)
        .map(({ t: _wallClock, ...rest }) => rest); // when a line was written differs, not what it says
    const folded = lines(allRanks!, "feedback");
    expect(folded.length).toBeGreaterThanOrEqual(STEPS - 1);
    expect(folded).toEqual(lines(perRank!, "feedback").slice(0, folded.length));
    const weights = lines(allRanks!, "weights");
    expect(weights.length).toBeGreaterThan(1);
    expect(weights).toEqual(lines(perRank!, "weights").slice(0, weights.length));
  }, 300_000);
});
