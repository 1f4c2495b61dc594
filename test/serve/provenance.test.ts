/**
 * The `provenance` op over a real served run (JSONL + Parquet sources, llama3 tokenizer, ipc
 * ZeroMQ): the segments tile exactly the non-padding tokens of each rank's batch with the served
 * domains; for 1,000 random (step, rank, row, column), the document the op names — read back
 * from its file (JSONL line, Parquet row via hyparquet) and re-tokenized with the plain library —
 * has the served token at the named offset; a step that left the window, or was never built, is
 * `step_out_of_range` saying which; a bad rank is `bad_request`.
 */
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MixloadError } from "../../src/client/client.js";
import { segmentAt } from "../../src/protocol/provenance.js";
import { mulberry32 } from "../../src/util/hash.js";
import { BATCH, SEQ_LEN, SourceReader, WORLD, serveAndCollect, writeProvenanceRun, type ServedStep } from "./provenance-fixture.js";

const STEPS = 14;
let served: ServedStep[];
let errors: Record<string, unknown>;
let dir: string | undefined;

beforeAll(async () => {
  const run = await writeProvenanceRun("serve");
  dir = run.dir;
  const got = await serveAndCollect(run.config, STEPS, async (client) => {
    const code = async (p: Promise<unknown>): Promise<unknown> => {
      try {
        await p;
        return "ok";
      } catch (e) {
        return e instanceof MixloadError ? { code: e.code, message: e.message, field: e.field } : String(e);
      }
    };
    errors = {
      evicted: await code(client.provenance(0, 0)),
      unbuilt: await code(client.provenance(STEPS + 50, 0)),
      rank: await code(client.provenance(STEPS - 1, WORLD)),
      kept: await code(client.provenance(STEPS - 1, 1)),
    };
  });
  served = got.served;
}, 120_000);

afterAll(() => {
  if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
});

describe("provenance op", () => {
  it("tiles every rank's non-padding tokens with segments of the served domains, in row and column order", () => {
    let segments = 0;
    for (const { ranks } of served) {
      for (const { batch, provenance: p } of ranks) {
        expect(p.sources.length).toBeGreaterThan(0);
        for (let row = 0; row < BATCH; row++) {
          let col = 0;
          for (let i = 0; i < p.row.length; i++) {
            if (p.row[i] !== row) continue;
            expect(p.col[i]).toBe(col);
            expect(p.length[i]).toBeGreaterThan(0);
            expect(p.offset[i] + p.length[i]).toBeLessThanOrEqual(p.doc_length[i]);
            expect(batch.position_ids[row * SEQ_LEN + col]).toBe(0);
            for (let t = col; t < col + p.length[i]; t++) expect(batch.domain_ids[row * SEQ_LEN + t]).toBe(p.domain[i]);
            col += p.length[i];
            segments++;
          }
          for (let t = col; t < SEQ_LEN; t++) expect(batch.domain_ids[row * SEQ_LEN + t]).toBe(-1);
        }
      }
    }
    expect(segments).toBeGreaterThan(STEPS * WORLD * BATCH);
  });

  it("names JSONL lines and Parquet rows of several files, and documents cut into pieces", () => {
    const units = new Set<string>();
    const files = new Set<string>();
    let pieces = 0;
    for (const { ranks } of served)
      for (const { provenance: p } of ranks) {
        for (const s of p.sources) {
          units.add(s.unit);
          files.add(s.file);
        }
        for (let i = 0; i < p.offset.length; i++) if (p.offset[i] > 0) pieces++;
      }
    expect([...units].sort()).toEqual(["line", "row"]);
    expect(files.size).toBe(4); // mail.jsonl, two Brown shards, code.parquet
    expect(pieces).toBeGreaterThan(0);
  });

  it("for 1,000 random (step, rank, row, column), the named document re-tokenized has the served token at the named offset", async () => {
    const reader = new SourceReader();
    const rand = mulberry32(20260417);
    let checked = 0;
    let lines = 0;
    let rows = 0;
    while (checked < 1000) {
      const { ranks } = served[Math.floor(rand() * served.length)];
      const rank = Math.floor(rand() * WORLD);
      const row = Math.floor(rand() * BATCH);
      const col = Math.floor(rand() * SEQ_LEN);
      const { batch, provenance: p } = ranks[rank];
      const i = segmentAt(p, row, col);
      if (i < 0) {
        expect(batch.domain_ids[row * SEQ_LEN + col], "padding where no segment is").toBe(-1);
        continue;
      }
      const src = p.sources[p.source[i]];
      const ids = await reader.tokens(src.file, src.unit, p.doc[i]);
      expect(ids.length, `${src.file} ${src.unit} ${p.doc[i]}: document length`).toBe(p.doc_length[i]);
      const offset = p.offset[i] + col - p.col[i];
      expect(ids[offset], `${src.file} ${src.unit} ${p.doc[i]} token ${offset} vs served (row ${row}, col ${col})`).toBe(batch.input_ids[row * SEQ_LEN + col]);
      if (src.unit === "line") lines++;
      else rows++;
      checked++;
    }
    expect(lines).toBeGreaterThan(50);
    expect(rows).toBeGreaterThan(50);
  }, 60_000);

  it("a step that left the window, or was never built, is step_out_of_range saying which; a bad rank is bad_request", () => {
    expect(errors.evicted).toMatchObject({ code: "step_out_of_range", field: "step" });
    expect((errors.evicted as { message: string }).message).toMatch(
      /step 0 has left the window \(kept: \d+\.\.\d+\).*mixload provenance --log RUN_DIR --step 0/,
    );
    expect(errors.unbuilt).toMatchObject({ code: "step_out_of_range", field: "step" });
    expect((errors.unbuilt as { message: string }).message).toMatch(/has not been built yet/);
    expect(errors.rank).toMatchObject({ code: "bad_request", field: "rank" });
    expect(errors.kept).toBe("ok");
  });
});
