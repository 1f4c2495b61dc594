/**
 * Running the Python client's checks from vitest: /usr/bin/python3 with pyzmq, msgpack, numpy
 * and torch (Debian packages; PyPI is not reachable from CI), and real `mixload serve` processes.
 *
 * No silent skips: when the packages are missing, each Python suite becomes one failing test
 * that names the install command. Only an explicit MIXLOAD_SKIP_PYTHON=1 skips them, and then
 * the suite's title and a warning say what was skipped and why.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { describe, it } from "vitest";

export const PYTHON = "/usr/bin/python3";
export const ROOT = path.resolve(import.meta.dirname, "../..");
export const CLIENT_DIR = path.join(ROOT, "clients/python");
export const BIN = path.join(ROOT, "dist/src/cli/main.js");

/** Everything the Python suites need, in one apt command (libopenblas: Debian's torch is ~10× slower without it). */
export const PYTHON_INSTALL = "apt-get install -y python3-zmq python3-msgpack python3-numpy python3-torch libopenblas0-pthread";
export const SKIP_ENV = "MIXLOAD_SKIP_PYTHON";

function probe(modules: string): string | undefined {
  try {
    execFileSync(PYTHON, ["-c", `import ${modules}`], { stdio: ["ignore", "ignore", "pipe"], timeout: 120_000 });
    return undefined;
  } catch (e) {
    const err = e as { code?: string; stderr?: Buffer };
    if (err.code === "ENOENT") return `${PYTHON} is not installed`;
    const last = (err.stderr?.toString() ?? "").trim().split("\n").pop();
    return last ?? String(e);
  }
}

function serveMissing(): string | undefined {
  try {
    execFileSync(process.execPath, [BIN, "serve", "--help"], { stdio: "ignore", timeout: 30_000 });
    return undefined;
  } catch {
    return `${BIN} has no \`serve\` command: run \`npm run build\` first`;
  }
}

let probed: { missing: string | undefined } | undefined;

/** Why the Python suites cannot run here (with the fix), or undefined when they can. Probed once per test file, on first use. */
export function pythonMissing(): string | undefined {
  if (probed === undefined) {
    const why = probe("zmq, msgpack, numpy, torch");
    probed = { missing: why === undefined ? undefined : `${PYTHON} cannot import the client's packages (${why}); install them with: ${PYTHON_INSTALL}` };
  }
  return probed.missing;
}

export const skipPython: boolean = process.env[SKIP_ENV] === "1";

/**
 * `describe`, unless the suite cannot run: then one failing test naming the fix, or, with
 * MIXLOAD_SKIP_PYTHON=1, a skipped suite whose title says why. `needsService`: the suite also
 * runs `mixload serve` from dist/.
 */
export function describePython(name: string, opts: { needsService?: boolean }, body: () => void): void {
  if (skipPython) {
    const missing = pythonMissing();
    const why = `${SKIP_ENV}=1${missing === undefined ? "" : `; ${missing}`}`;
    console.warn(`skipped Python suite "${name}": ${why}`);
    describe.skip(`${name} [skipped: ${why}]`, body);
    return;
  }
  const missing = pythonMissing() ?? (opts.needsService ? serveMissing() : undefined);
  if (missing === undefined) {
    describe(name, body);
    return;
  }
  describe(name, () => {
    it("has what it needs to run", () => {
      throw new Error(`${missing} (or set ${SKIP_ENV}=1 to skip the Python tests)`);
    });
  });
}

export interface PyResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a Python program to completion; PYTHONPATH has the client package from the tree unless `env` says otherwise. */
export function runPython(args: string[], timeoutMs = 120_000, env: Record<string, string> = {}, python = PYTHON, cwd = ROOT): Promise<PyResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, args, {
      cwd,
      env: { ...process.env, PYTHONPATH: CLIENT_DIR, PYTHONUNBUFFERED: "1", OMP_NUM_THREADS: "2", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

// ---- a real service -----------------------------------------------------------------------

export const BROWN_SMALL = path.join(ROOT, "examples/configs/brown-small.json");

export function freePort(): Promise<number> {
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

export interface Service {
  child: ChildProcess;
  control: string;
  runDir: string;
  stderr: () => string;
}

/** `mixload serve` on brown-small (15 Brown genres, doremi, lag 2, world 1) on free loopback ports, in a fresh run dir. */
export async function startService(config = BROWN_SMALL): Promise<Service> {
  const [c, w] = [await freePort(), await freePort()];
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), "mixload-py-e2e-"));
  const control = `tcp://127.0.0.1:${c}`;
  const child = spawn(
    process.execPath,
    [BIN, "serve", "--config", config, "--run-dir", runDir, "--control", control, "--weights", `tcp://127.0.0.1:${w}`, "--json", "--workers", "1"],
    { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] },
  );
  let err = "";
  // Wait for `{"event":"listening"}` (stderr with --json): a service that dies at start-up (a
  // broken build, a port taken) fails here with its own message, not as a client timeout later.
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`mixload serve did not start listening in 120 s:\n${err.slice(-3000)}`)), 120_000);
    const onExit = (code: number | null): void => {
      clearTimeout(timer);
      reject(new Error(`mixload serve exited (${code}) before listening:\n${err.slice(-3000)}`));
    };
    child.once("exit", onExit);
    child.stderr?.on("data", (d: Buffer) => {
      err += d.toString();
      if (err.includes('"event":"listening"')) {
        clearTimeout(timer);
        child.off("exit", onExit);
        resolve();
      }
    });
  });
  try {
    await ready;
  } catch (e) {
    child.kill("SIGKILL");
    fs.rmSync(runDir, { recursive: true, force: true });
    throw e;
  }
  return { child, control, runDir, stderr: () => err };
}

export async function stopService(s: Service | undefined): Promise<void> {
  if (s === undefined) return;
  if (s.child.exitCode === null && s.child.signalCode === null) {
    const done = new Promise<void>((resolve) => s.child.once("exit", () => resolve()));
    s.child.kill("SIGTERM");
    await Promise.race([done, new Promise((r) => setTimeout(r, 10_000))]);
    if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill("SIGKILL");
  }
  fs.rmSync(s.runDir, { recursive: true, force: true });
}

/** What a failed Python run printed, with the tail of the service's stderr. */
export function explain(r: PyResult, svc?: Service): string {
  return `${r.stdout}\n${r.stderr}${svc === undefined ? "" : `\n--- service stderr ---\n${svc.stderr().slice(-3000)}`}`;
}
