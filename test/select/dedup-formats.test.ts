/**
 * Every format the loader reads deduplicates the same: the same documents as Parquet (several row
 * groups, written by DuckDB), Arrow IPC and JSONL give the same drops, and as later domains every
 * one of their documents is an exact duplicate of the first domain's.
 */
import path from "node:path";
import { expect, test } from "vitest";
import { parseConfig } from "../../src/config/load.js";
import { openSource } from "../../src/sources/index.js";
import type { DocumentSource } from "../../src/sources/types.js";
import { loadOrComputeDedup } from "../../src/select/dedup/index.js";
import { mulberry32 } from "../../src/util/hash.js";
import { LLAMA3, tempDir } from "../helpers/fixtures.js";
import { makeDoc, spamDocs, writeArrowIpc, writeJsonl, writeParquet } from "../helpers/parquet-fixtures.js";
import { editWords } from "./dedup-fixtures.js";

test("Parquet, Arrow and JSONL give the same drops; later domains are exact duplicates of the first", async () => {
  const dir = tempDir();
  const docs = spamDocs(8);
  docs.push(makeDoc(editWords(docs[3].text, 0.01, mulberry32(1), ["x"]), "near-3", "u"), makeDoc(docs[5].text.toUpperCase(), "twin-5", "u"));
  const files = {
    parquet: await writeParquet(docs, path.join(dir, "d.parquet"), { rowGroupSize: 7 }),
    arrow: writeArrowIpc(docs, path.join(dir, "d.arrow"), "stream", 9),
    jsonl: writeJsonl(docs, path.join(dir, "d.jsonl")),
  };
  const formats = Object.keys(files) as (keyof typeof files)[];
  const drops: number[][] = [];
  for (const first of formats) {
    const order = [first, ...formats.filter((f) => f !== first)];
    const loaded = parseConfig(
      { tokenizer: { path: path.join(LLAMA3, "tokenizer.json") }, dedup: {}, domains: order.map((f) => ({ name: f, sources: [{ type: f, path: files[f] }] })) },
      dir,
    );
    const sources: DocumentSource[][] = [];
    for (const d of loaded.config.domains) sources.push([await openSource(d.sources[0], { baseDir: dir })]);
    const r = (await loadOrComputeDedup(loaded, sources, path.join(dir, `cache-${first}`)))!;
    for (const list of sources) for (const s of list) s.close();
    drops.push(Array.from(r.domains[0].dropped));
    expect(Array.from(r.domains[0].reason)).toEqual([2, 1]);
    for (const later of r.domains.slice(1)) {
      expect(later.dropped.length).toBe(docs.length);
      expect(later.exact).toBe(docs.length);
    }
    expect(r.matrix.exact.map((row) => row[0])).toEqual([1, docs.length, docs.length]);
  }
  expect(drops).toEqual([
    [docs.length - 2, docs.length - 1],
    [docs.length - 2, docs.length - 1],
    [docs.length - 2, docs.length - 1],
  ]);
});
