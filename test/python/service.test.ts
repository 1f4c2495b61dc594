/**
 * The Python client and the PyTorch example against a real `mixload serve` over TCP
 * (examples/configs/brown-small.json: 15 Brown genres, brown-4k tokenizer, doremi, lag 2).
 */
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { describePython, explain, ROOT, runPython, startService, stopService, type Service } from "./helpers.js";

describePython("Python client against mixload serve", { needsService: true }, () => {
  let svc: Service | undefined;
  beforeAll(async () => {
    svc = await startService();
  });
  afterAll(async () => {
    await stopService(svc);
  });

  it("hello, batch (shapes, dtypes, re-ask), not_ready until feedback, feedback errors, weights move, stats, state", async () => {
    const r = await runPython([path.join(import.meta.dirname, "check_service.py"), svc!.control], 180_000);
    expect(r.code, explain(r, svc)).toBe(0);
    expect(r.stdout).toContain("ok batch 2 is not_ready until feedback 0");
    expect(r.stdout).toContain("all checks passed");
  }, 240_000);
});

describePython("PyTorch example (examples/python/train_gpt.py)", { needsService: true }, () => {
  let svc: Service | undefined;
  beforeAll(async () => {
    svc = await startService();
  });
  afterAll(async () => {
    await stopService(svc);
  });

  it("trains a reference then a proxy for a handful of steps with DoReMi live and prints the table", async () => {
    const args = [path.join(ROOT, "examples/python/train_gpt.py"), "--endpoint", svc!.control, "--ref-steps", "2", "--steps", "5", "--log-every", "1"];
    const r = await runPython(args, 600_000);
    expect(r.code, explain(r, svc)).toBe(0);
    const line = r.stdout.split("\n").find((l) => l.startsWith("RESULT "));
    expect(line, r.stdout).toBeDefined();
    const result = JSON.parse(line!.slice("RESULT ".length)) as {
      steps: number;
      ref_steps: number;
      loss_first: number;
      weights_l1_moved: number;
      domains: unknown[];
    };
    expect(result).toMatchObject({ steps: 5, ref_steps: 2 });
    expect(result.domains).toHaveLength(15);
    expect(Number.isFinite(result.loss_first)).toBe(true);
    expect(result.weights_l1_moved).toBeGreaterThan(0); // DoReMi moved the weights off uniform
    expect(r.stdout).toMatch(/domain\s+start w\s+end w/);
  }, 660_000);
});
