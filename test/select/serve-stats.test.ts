/**
 * The service's `stats` reply carries what selection and dedup kept and dropped per domain (the
 * figures `mixload inspect` shows), through the builder thread and a real ZeroMQ socket.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { MixloadClient } from "../../src/client/client.js";
import { loadConfig } from "../../src/config/load.js";
import { MixloadService } from "../../src/serve/service.js";
import { BROWN, tempDir } from "../helpers/fixtures.js";
import { writeConfig } from "../serve/helpers.js";

const dir = tempDir("mixload-select-stats-");
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const text = (name: string, glob: string) => ({ name, sources: [{ type: "text", path: BROWN, glob, split: "paragraph", transform: "brown_pos" }] });

describe("stats with selection", () => {
  it("reports kept and dropped documents per domain and reason; without selection it has no such field", async () => {
    // `copies` repeats two of news's files and adds one of its own: with exact dedup each repeated
    // paragraph is dropped from `copies` (the earlier domain keeps the first copy of a cluster).
    const withDedup = writeConfig(dir, "dedup", {
      world: 1,
      domains: [text("news", "ca0[1-4]"), text("copies", "ca0[125]")],
      dedup: { exact: true, near: false },
      cache_dir: path.join(dir, "cache"),
    });
    const plain = writeConfig(dir, "plain", { world: 1, domains: [text("news", "ca0[1-4]")] });
    for (const [file, selecting] of [
      [withDedup, true],
      [plain, false],
    ] as const) {
      const service = await MixloadService.open(await loadConfig(file));
      const client = new MixloadClient({ endpoint: service.controlEndpoint, timeoutMs: 20_000, notReadyWaitMs: 0 });
      try {
        const stats = await client.stats();
        if (!selecting) {
          expect(stats.selection).toBeUndefined();
          continue;
        }
        const selection = stats.selection as Record<string, { documents: number; kept: number; dropped: Record<string, number> }>;
        expect(Object.keys(selection)).toEqual(["news", "copies"]);
        // ca01 and ca02 are 127 paragraphs, all in news too.
        expect(selection.copies.dropped.exact_dup).toBeGreaterThanOrEqual(127);
        expect(selection.copies.kept).toBeGreaterThan(0);
        expect(selection.copies.kept + selection.copies.dropped.exact_dup).toBe(selection.copies.documents);
        expect(selection.news.kept + selection.news.dropped.exact_dup).toBe(selection.news.documents);
      } finally {
        client.close();
        await service.close();
      }
    }
  }, 120_000);
});
