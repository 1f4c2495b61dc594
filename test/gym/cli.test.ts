/**
 * `mixload gym` as users run it (the built CLI, `npm run build` first): the synthetic gym over
 * seeds prints the interval table and writes the HTML report; user mistakes are one line naming
 * the field, no stack trace.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { mixload } from "../cli/mixload.js";

const BROWN_GYM = "examples/configs/gym-brown.json";

describe("mixload gym (CLI)", () => {
  it("--synthetic over 2 seeds prints intervals, the paired verdict, the oracle, and writes the report", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mixload-gym-cli-"));
    try {
      const html = path.join(dir, "r.html");
      const r = await mixload("gym", "--config", BROWN_GYM, "--synthetic", "--seeds", "2", "--steps", "60", "--mixers", "doremi", "--report", html);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain("seeds 1234, 1235");
      expect(r.stdout).toMatch(/doremi\s+\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]/);
      expect(r.stdout).toMatch(/worst_excess [-+]\d\.\d+ \[[-+]\d\.\d+, [-+]\d\.\d+\] \dW\/\dL/);
      expect(r.stdout).toMatch(/oracle \(mean\): \d\.\d{3} with news/);
      expect(fs.readFileSync(html, "utf8")).toContain("Paired comparison with uniform");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("names the field of a bad learner or split in one line", async () => {
    const bad = await mixload("gym", "--config", BROWN_GYM, "--learner", "nope", "--no-report");
    expect(bad.code).not.toBe(0);
    expect(bad.stderr.trim().split("\n").at(-1)).toMatch(/gym\.learner\.kind: unknown learner "nope"/);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mixload-gym-cli-"));
    try {
      const cfg = JSON.parse(fs.readFileSync(BROWN_GYM, "utf8"));
      cfg.gym.split = { reference: 0.7, heldout: 0.4 };
      const file = path.join(dir, "bad.json");
      fs.writeFileSync(file, JSON.stringify(cfg));
      const r = await mixload("gym", "--config", file, "--synthetic", "--no-report");
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/gym\.split.*must leave a train part/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
