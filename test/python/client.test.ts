/**
 * The Python client without a service: labels and feedback helpers against hand-computed
 * arrays, the protocol schema's field lists, and every client path (frames, decoding, errors,
 * not_ready backoff, re-ask, unknown fields refused) against a scripted ROUTER
 * (test/python/check_client.py).
 */
import path from "node:path";
import { expect, it } from "vitest";
import { describePython, explain, runPython } from "./helpers.js";

describePython("Python client (no service)", {}, () => {
  it("labels, feedback_from_losses, schema, protocol handling and the torch view all check out", async () => {
    const r = await runPython([path.join(import.meta.dirname, "check_client.py")]);
    expect(r.code, explain(r)).toBe(0);
    for (const line of [
      "ok labels: -100 at document starts and padding",
      "ok feedback_from_losses",
      "ok the client's field lists are docs/protocol-schema.json's",
      "ok not_ready retried with backoff",
      "ok every optional signal",
      "ok unknown fields",
      "ok MixloadDataset through a DataLoader",
      "ok to_hf",
      "all checks passed",
    ]) {
      expect(r.stdout).toContain(line);
    }
  });
});
