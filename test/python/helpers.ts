/** Running the Python client's checks from vitest: /usr/bin/python3 with pyzmq, msgpack and numpy (Debian packages). */
import { execFileSync, spawn } from "node:child_process";
import path from "node:path";

export const PYTHON = "/usr/bin/python3";
export const ROOT = path.resolve(import.meta.dirname, "../..");
export const CLIENT_DIR = path.join(ROOT, "clients/python");

function probe(modules: string): boolean {
  try {
    execFileSync(PYTHON, ["-c", `import ${modules}`], { stdio: "ignore", timeout: 60_000 });
    return true;
  } catch {
    return false;
  }
}

/** Why the Python tests cannot run here, or undefined when they can. */
export const pythonMissing: string | undefined = probe("zmq, msgpack, numpy")
  ? undefined
  : `${PYTHON} lacks pyzmq/msgpack/numpy: apt-get install -y python3-zmq python3-msgpack python3-numpy`;
export const hasTorch: boolean = pythonMissing === undefined && probe("torch");

export interface PyResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a Python script to completion (PYTHONPATH has the client package). */
export function runPython(args: string[], timeoutMs = 120_000, env: Record<string, string> = {}): Promise<PyResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, args, {
      cwd: ROOT,
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
