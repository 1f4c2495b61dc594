/**
 * Elastic resume (issue 13): a state saved with (world W, batch_size B) resumes with (W′, B′)
 * whenever W·B = W′·B′ — the global stream does not depend on how its rows are split over ranks —
 * and anything else is refused in one line naming what differs. Through the real CLI.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { smallBrownConfig, tempDir } from "../helpers/fixtures.js";
import { mixload } from "./mixload.js";

function config(dir: string, name: string, world: number, batch: number): string {
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(
    file,
    JSON.stringify(smallBrownConfig({ world, batch_size: batch, mixer: { name: "static", params: { weights: { news: 0.5, editorial: 0.3, humor: 0.2 } } } })),
  );
  return file;
}

describe("elastic resume", () => {
  it("a state saved with world 1 × batch 8 resumes with 2 × 4 and 4 × 2: the global stream is identical", async () => {
    const dir = tempDir();
    const one = config(dir, "w1", 1, 8);
    const whole = await mixload("batches", "--config", one, "--steps", "12", "--digest");
    expect(whole.code, whole.stderr).toBe(0);
    const state = path.join(dir, "state.bin");
    const head = await mixload("batches", "--config", one, "--steps", "6", "--digest", "--save-state", state);
    expect(head.code, head.stderr).toBe(0);
    for (const [w, b] of [
      [2, 4],
      [4, 2],
    ]) {
      const tail = await mixload("batches", "--config", config(dir, `w${w}`, w, b), "--steps", "6", "--digest", "--resume", state);
      expect(tail.code, tail.stderr).toBe(0);
      expect(`${head.stdout}${tail.stdout}`).toBe(whole.stdout);
    }
  });

  it("refuses another world × batch_size in one line naming it", async () => {
    const dir = tempDir();
    const state = path.join(dir, "state.bin");
    expect((await mixload("batches", "--config", config(dir, "a", 2, 4), "--steps", "2", "--save-state", state)).code).toBe(0);
    const r = await mixload("batches", "--config", config(dir, "b", 3, 2), "--steps", "2", "--resume", state);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/rows_per_step 8 → 6 \(world × batch_size/);
  });
});
