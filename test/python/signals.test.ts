/**
 * Every optional feedback signal of the protocol schema, sent from Python, arrives in the
 * service: each one is in the aggregate the service folded into the mixer and logged to
 * run_dir/schedule.jsonl (the record `mixload replay` rebuilds the run from). Issue 15: the
 * Python client used to drop `eval_loss` without a word.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { describePython, explain, ROOT, runPython, startService, stopService, type Service } from "./helpers.js";

interface Sent {
  step: number;
  domains: Record<string, Record<string, number>>;
  lr: number;
}

const schema = JSON.parse(fs.readFileSync(path.join(ROOT, "docs/protocol-schema.json"), "utf8")) as {
  feedback: { domain_fields: Record<string, unknown>; optional_signals: Record<string, unknown> };
};
const SIGNALS = Object.keys(schema.feedback.optional_signals);

describePython("Python client: every optional feedback signal reaches mixload serve", { needsService: true }, () => {
  let svc: Service | undefined;
  beforeAll(async () => {
    svc = await startService();
  });
  afterAll(async () => {
    await stopService(svc);
  });

  it(`sends ${SIGNALS.join(", ")} (in domain entries and as keyword maps); schedule.jsonl's folded feedback holds each, value for value`, async () => {
    expect(SIGNALS).toContain("eval_loss");
    const r = await runPython([path.join(import.meta.dirname, "check_signals.py"), svc!.control], 180_000);
    expect(r.code, explain(r, svc)).toBe(0);
    const sent = r.stdout
      .split("\n")
      .filter((l) => l.startsWith("SENT "))
      .map((l) => JSON.parse(l.slice(5)) as Sent);
    expect(sent.map((s) => s.step)).toEqual([0, 1]);

    // The service writes the feedback line while folding, before it replies to the last rank.
    const logged = fs
      .readFileSync(path.join(svc!.runDir, "schedule.jsonl"), "utf8")
      .split("\n")
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as { type: string; step: number; domains: Record<string, Record<string, number>>; lr?: number })
      .filter((l) => l.type === "feedback");
    for (const s of sent) {
      const line = logged.find((l) => l.step === s.step);
      expect(line, `no feedback line for step ${s.step} in schedule.jsonl`).toBeDefined();
      expect(line!.lr).toBe(s.lr);
      expect(Object.keys(line!.domains).sort()).toEqual(Object.keys(s.domains).sort());
      for (const [name, entry] of Object.entries(s.domains)) {
        // World 1: a sum over ranks and a mean over ranks are both the one rank's value.
        for (const field of [...Object.keys(schema.feedback.domain_fields), ...SIGNALS]) {
          // A signal the Python client does not know would be missing on both sides: require it sent.
          expect(typeof entry[field], `step ${s.step}: the Python client did not send ${field} for ${name}`).toBe("number");
          expect(line!.domains[name][field], `step ${s.step} ${field} of ${name}`).toBe(entry[field]);
        }
      }
    }
  }, 240_000);
});
