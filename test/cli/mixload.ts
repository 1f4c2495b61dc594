/** Run the compiled `mixload` command as users do, in a child process; never throws on a non-zero exit. */
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { ROOT } from "../helpers/fixtures.js";

const run = promisify(execFile);
export const BIN = path.join(ROOT, "dist/src/cli/main.js");

export async function mixload(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { cwd: ROOT, maxBuffer: 64 << 20, timeout: 120_000 });
    return { stdout, stderr, code: 0 };
  } catch (e) {
    const err = e as { stdout: string; stderr: string; code: number };
    return { stdout: err.stdout, stderr: err.stderr, code: err.code };
  }
}
