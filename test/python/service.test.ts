/**
 * The Python client and the PyTorch example against a real `mixload serve` over TCP
 * (examples/configs/brown-small.json: 15 Brown genres, brown-4k tokenizer, doremi, lag 2).
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasTorch, pythonMissing, ROOT, runPython } from "./helpers.js";

const BIN = path.join(ROOT, "dist/src/cli/main.js");
const CONFIG = path.join(ROOT, "examples/configs/brown-small.json");

function serveMissing(): string | undefined {
  try {
    execFileSync(process.execPath, [BIN, "serve", "--help"], { stdio: "ignore", timeout: 30_000 });
    return undefined;
  } catch {
    return `${BIN} has no \`serve\` command (run \`npm run build\`)`;
  }
}

const skip = pythonMissing ?? serveMissing();
if (skip) console.warn(`skipping Python end-to-end tests: ${skip}`);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

interface Service {
  child: ChildProcess;
  control: string;
  stderr: () => string;
}

async function startService(): Promise<Service> {
  const [c, w] = [await freePort(), await freePort()];
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), "mixload-py-e2e-"));
  const control = `tcp://127.0.0.1:${c}`;
  const child = spawn(
    process.execPath,
    [BIN, "serve", "--config", CONFIG, "--run-dir", runDir, "--control", control, "--weights", `tcp://127.0.0.1:${w}`, "--json", "--workers", "1"],
    { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] },
  );
  let err = "";
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  return { child, control, stderr: () => err };
}

async function stopService(s: Service | undefined): Promise<void> {
  if (s === undefined || s.child.exitCode !== null) return;
  const done = new Promise<void>((resolve) => s.child.once("exit", () => resolve()));
  s.child.kill("SIGTERM");
  await Promise.race([done, new Promise((r) => setTimeout(r, 10_000))]);
  if (s.child.exitCode === null) s.child.kill("SIGKILL");
}

describe.skipIf(skip !== undefined)("Python client against mixload serve", () => {
  let svc: Service | undefined;
  beforeAll(async () => {
    svc = await startService();
  });
  afterAll(async () => {
    await stopService(svc);
  });

  it("hello, batch (shapes, dtypes, re-ask), not_ready until feedback, feedback errors, weights move, stats, state", async () => {
    const r = await runPython([path.join(import.meta.dirname, "check_service.py"), svc!.control], 180_000);
    expect(r.code, `${r.stdout}\n${r.stderr}\n--- service stderr ---\n${svc!.stderr().slice(-3000)}`).toBe(0);
    expect(r.stdout).toContain("ok batch 2 is not_ready until feedback 0");
    expect(r.stdout).toContain("all checks passed");
  }, 240_000);
});

describe.skipIf(skip !== undefined || !hasTorch)("PyTorch example (examples/python/train_gpt.py)", () => {
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
    expect(r.code, `${r.stdout}\n${r.stderr}\n--- service stderr ---\n${svc!.stderr().slice(-3000)}`).toBe(0);
    const line = r.stdout.split("\n").find((l) => l.startsWith("RESULT "));
    expect(line, r.stdout).toBeDefined();
    const result = JSON.parse(line!.slice("RESULT ".length)) as { steps: number; ref_steps: number; loss_first: number; weights_l1_moved: number; domains: unknown[] };
    expect(result).toMatchObject({ steps: 5, ref_steps: 2 });
    expect(result.domains).toHaveLength(15);
    expect(Number.isFinite(result.loss_first)).toBe(true);
    expect(result.weights_l1_moved).toBeGreaterThan(0); // DoReMi moved the weights off uniform
    expect(r.stdout).toMatch(/domain\s+start w\s+end w/);
  }, 660_000);
});
