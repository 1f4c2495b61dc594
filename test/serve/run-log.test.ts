/**
 * RunLog writes `batch` lines (one per step) from a cached weights text instead of
 * JSON.stringify: the lines must be byte for byte what JSON.stringify writes, for any weights,
 * steps, versions and digests, and maps shared across lines must not leak one line's values into another.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { RunLog } from "../../src/serve/run-log.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mixload-runlog-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("RunLog", () => {
  it("writes batch lines exactly as JSON.stringify would, with shared weight maps", () => {
    let n = 0;
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.tuple(fc.nat(1 << 30), fc.nat(1000), fc.string({ maxLength: 64 }), fc.boolean()), { minLength: 1, maxLength: 20 }),
        (values, steps) => {
          const runDir = path.join(dir, `run-${n++}`);
          const log = new RunLog(runDir);
          const a = Object.fromEntries(values.map((v, i) => [`d${i}`, v]));
          const b = Object.fromEntries(values.map((v, i) => [`d${i}`, 1 - v]));
          const records = steps.map(([step, version, digest, first]) => ({
            v: 1 as const,
            type: "batch" as const,
            step,
            version,
            weights: first ? a : b,
            digest,
          }));
          for (const r of records) log.append(r);
          log.close();
          const lines = fs.readFileSync(path.join(runDir, "schedule.jsonl"), "utf8").split("\n");
          expect(lines.pop()).toBe("");
          expect(lines).toHaveLength(records.length);
          lines.forEach((line, i) => {
            const t = (JSON.parse(line) as { t: number }).t;
            expect(line).toBe(JSON.stringify({ ...records[i], t }));
          });
        },
      ),
      { numRuns: 40 },
    );
  });

  it("keeps other records' JSON as it was, and appends to an existing file", () => {
    const runDir = path.join(dir, "mixed");
    const first = new RunLog(runDir);
    first.append({ v: 1, type: "weights", version: 0, effective_step: 0, weights: { a: 0.25, b: 0.75 }, mixer: "static" });
    first.close();
    const second = new RunLog(runDir);
    second.append({ v: 1, type: "feedback", step: 3, domains: { a: { loss: 2.5 } }, lr: 0.001 });
    second.append({ v: 1, type: "batch", step: 4, version: 0, weights: { a: 0.25, b: 0.75 }, digest: "ab" });
    second.close();
    const lines = fs
      .readFileSync(path.join(runDir, "schedule.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.type)).toEqual(["weights", "feedback", "batch"]);
    expect(lines[0]).toMatchObject({ version: 0, effective_step: 0, weights: { a: 0.25, b: 0.75 }, mixer: "static" });
    expect(lines[1]).toMatchObject({ step: 3, domains: { a: { loss: 2.5 } }, lr: 0.001 });
    expect(lines[2]).toMatchObject({ step: 4, version: 0, digest: "ab" });
  });
});

describe("RunLog on a file a crash left mid-line", () => {
  it("cuts the half line off before appending, and says so", () => {
    const runDir = path.join(dir, "torn");
    fs.mkdirSync(runDir);
    const whole = `${JSON.stringify({ v: 1, type: "batch", step: 0, version: 0, weights: { a: 1 }, digest: "00", t: 1 })}\n`;
    fs.writeFileSync(path.join(runDir, "schedule.jsonl"), `${whole}{"v":1,"type":"batch","st`);
    const errors: string[] = [];
    const log = new RunLog(runDir, (m) => errors.push(m));
    log.append({ v: 1, type: "batch", step: 1, version: 0, weights: { a: 1 }, digest: "01" });
    log.close();
    const lines = fs.readFileSync(path.join(runDir, "schedule.jsonl"), "utf8").split("\n");
    expect(lines[0]).toBe(whole.trimEnd());
    expect((JSON.parse(lines[1]) as { step: number }).step).toBe(1);
    expect(lines).toHaveLength(3);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/schedule\.jsonl ended in a half-written line \(25 bytes/);
  });

  it("leaves a file that ends in a newline as it is", () => {
    const runDir = path.join(dir, "whole");
    fs.mkdirSync(runDir);
    fs.writeFileSync(path.join(runDir, "schedule.jsonl"), '{"v":1}\n');
    const errors: string[] = [];
    new RunLog(runDir, (m) => errors.push(m)).close();
    expect(fs.readFileSync(path.join(runDir, "schedule.jsonl"), "utf8")).toBe('{"v":1}\n');
    expect(errors).toEqual([]);
  });
});
