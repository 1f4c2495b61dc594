/**
 * The Python client without a service: labels and feedback helpers against hand-computed
 * arrays, and every client path (frames, decoding, errors, not_ready backoff, re-ask) against
 * a scripted ROUTER (test/python/check_client.py).
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { pythonMissing, runPython } from "./helpers.js";

if (pythonMissing) console.warn(`skipping Python client tests: ${pythonMissing}`);

describe.skipIf(pythonMissing !== undefined)("Python client (no service)", () => {
  it("labels, feedback_from_losses, protocol handling and the torch view all check out", async () => {
    const r = await runPython([path.join(import.meta.dirname, "check_client.py")]);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain("ok labels: -100 at document starts and padding");
    expect(r.stdout).toContain("ok feedback_from_losses");
    expect(r.stdout).toContain("ok not_ready retried with backoff");
    expect(r.stdout).toContain("all checks passed");
  });
});
