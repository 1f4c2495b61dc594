/**
 * The Python client as people install it: `pip install ./clients/python` into a fresh venv,
 * offline (no PyPI here: --no-index, the build uses the system's setuptools, and the
 * dependencies come from Debian's python3-* packages through --system-site-packages), then
 * `python -m mixload_client --endpoint E hello|stats|weights` against a real `mixload serve`.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { CLIENT_DIR, describePython, explain, PYTHON, ROOT, runPython, startService, stopService, type Service } from "./helpers.js";

describePython("Python client package (pip install, python -m mixload_client)", { needsService: true }, () => {
  let svc: Service | undefined;
  let tmp = "";
  let venvPython = "";
  // The installed package only: no PYTHONPATH into the tree, and a cwd outside it.
  const cli = (args: string[]) => runPython(["-m", "mixload_client", ...args], 60_000, { PYTHONPATH: "" }, venvPython, tmp);

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mixload-py-pkg-"));
    // pip builds in the source folder (build/, *.egg-info): build from a copy, so the tree stays clean.
    fs.cpSync(CLIENT_DIR, path.join(tmp, "src"), { recursive: true, filter: (p) => !/(__pycache__|\.egg-info|[/\\]build)$/.test(p) });
    execFileSync(PYTHON, ["-m", "venv", "--system-site-packages", path.join(tmp, "venv")], { stdio: "pipe", timeout: 120_000 });
    venvPython = path.join(tmp, "venv/bin/python");
    svc = await startService();
  }, 180_000);
  afterAll(async () => {
    await stopService(svc);
    if (tmp !== "") fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("installs offline with pip into a venv and imports from site-packages with its schema", async () => {
    const pip = await runPython(
      ["-m", "pip", "install", "--no-index", "--no-build-isolation", "--disable-pip-version-check", "./src"],
      300_000,
      { PYTHONPATH: "" },
      venvPython,
      tmp,
    );
    expect(pip.code, explain(pip)).toBe(0);
    expect(pip.stdout).toContain("Successfully installed mixload-client-0.1.0");
    const probe = await runPython(
      ["-c", "import json, mixload_client as m; print(json.dumps({'file': m.__file__, 'signals': m.OPTIONAL_SIGNALS, 'schema': m.SCHEMA}))"],
      60_000,
      { PYTHONPATH: "" },
      venvPython,
      tmp,
    );
    expect(probe.code, explain(probe)).toBe(0);
    const got = JSON.parse(probe.stdout) as { file: string; signals: string[]; schema: unknown };
    expect(got.file.startsWith(path.join(tmp, "venv"))).toBe(true);
    expect(got.schema).toEqual(JSON.parse(fs.readFileSync(path.join(ROOT, "docs/protocol-schema.json"), "utf8")));
    expect(got.signals).toContain("eval_loss");
  }, 360_000);

  it("python -m mixload_client hello | stats | weights [--json] answer from the service", async () => {
    const hello = await cli(["--endpoint", svc!.control, "hello"]);
    expect(hello.code, explain(hello, svc)).toBe(0);
    const info = JSON.parse(hello.stdout) as { domains: string[]; world: number; feedback_lag: number };
    expect(info).toMatchObject({ world: 1, feedback_lag: 2 });
    expect(info.domains).toHaveLength(15);

    const stats = await cli(["--endpoint", svc!.control, "stats"]);
    expect(stats.code, explain(stats, svc)).toBe(0);
    expect(Object.keys((JSON.parse(stats.stdout) as { weights: object }).weights)).toEqual(info.domains);

    const table = await cli(["--endpoint", svc!.control, "weights"]);
    expect(table.code, explain(table, svc)).toBe(0);
    const rows = table.stdout.trim().split("\n");
    expect(rows[0]).toMatch(/^weights version \d+ at step \d+$/);
    expect(rows[1]).toMatch(/^domain\s+weight\s+achieved$/);
    expect(rows.slice(2).map((r) => r.split(/\s+/)[0])).toEqual(info.domains);

    const json = await cli(["--endpoint", svc!.control, "weights", "--json"]);
    expect(json.code, explain(json, svc)).toBe(0);
    const w = JSON.parse(json.stdout) as { weights: Record<string, number> };
    expect(Object.values(w.weights).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
  }, 120_000);

  it("a mistake prints one line and exits 1: wrong world, nothing listening, unknown command", async () => {
    const world = await cli(["--endpoint", svc!.control, "--world", "2", "hello"]);
    expect(world.code).toBe(1);
    expect(world.stderr.trim().split("\n")).toHaveLength(1);
    expect(world.stderr).toMatch(/bad_request: world: the service is configured for world 1, got 2 \(pass the service's world with --world\)/);

    const dead = await cli(["--endpoint", "tcp://127.0.0.1:1", "--timeout-ms", "200", "--retries", "0", "stats"]);
    expect(dead.code).toBe(1);
    expect(dead.stderr.trim().split("\n")).toHaveLength(1);
    expect(dead.stderr).toContain("no reply from tcp://127.0.0.1:1");

    const bad = await cli(["--endpoint", svc!.control, "shutdown"]);
    expect(bad.code).toBe(2); // argparse: usage error
    expect(bad.stderr).toContain("invalid choice: 'shutdown'");
  }, 120_000);
});
