/**
 * `mixload inspect` through the real command: a Parquet dataset (DuckDB-written, HF layout, one
 * bad shard), an Arrow file and a zstd JSONL file, reported per domain and source.
 */
import { execFile, execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { LLAMA3, ROOT, tempDir } from "../helpers/fixtures.js";
import { mixedDocs, writeArrowIpc, writeBadParquet, writeJsonl, writeParquetDataset, type FixtureDoc } from "../helpers/parquet-fixtures.js";
import type { InspectReport } from "../../src/cli/inspect.js";

const run = promisify(execFile);
const BIN = path.join(ROOT, "dist/src/cli/main.js");
let dir: string;
let docs: FixtureDoc[];
let config: string;

beforeAll(async () => {
  dir = tempDir("mixload-inspect-");
  docs = await mixedDocs();
  await writeParquetDataset(docs, path.join(dir, "web"), { files: 2, rowGroupSize: 100, codec: "zstd" });
  await writeBadParquet(docs.slice(0, 8), path.join(dir, "bad"));
  writeArrowIpc(docs.slice(0, 50), path.join(dir, "books/data-00000-of-00001.arrow"));
  const jsonl = writeJsonl(docs.slice(0, 30), path.join(dir, "mail.jsonl"));
  try {
    execFileSync("zstd", ["-q", "-f", "--rm", jsonl, "-o", `${jsonl}.zst`]);
  } catch (e) {
    throw new Error(`this test writes a .jsonl.zst with the zstd CLI: apt-get install -y zstd (${(e as Error).message})`);
  }
  config = path.join(dir, "config.json");
  fs.writeFileSync(
    config,
    JSON.stringify({
      seq_len: 128,
      batch_size: 2,
      tokenizer: { path: path.join(LLAMA3, "tokenizer.json"), config: path.join(LLAMA3, "tokenizer_config.json"), workers: 0 },
      on_error: "skip",
      domains: [
        {
          name: "web",
          sources: [
            { type: "parquet", path: "web", metadata: ["score", "url"] },
            { type: "parquet", path: "bad/data/*.parquet" },
          ],
        },
        { name: "books", sources: [{ type: "arrow", path: "books", window: 2 }] },
        { name: "mail", sources: [{ type: "jsonl", path: "mail.jsonl.zst", metadata: ["id"] }] },
      ],
    }),
  );
}, 120_000);

describe("mixload inspect", () => {
  it("--json reports files, documents, tokens, columns, metadata, codecs, row groups and unusable files", async () => {
    const { stdout } = await run(process.execPath, [BIN, "inspect", "--config", config, "--json"]);
    const r = JSON.parse(stdout) as InspectReport;
    expect(r.domains.map((d) => d.name)).toEqual(["web", "books", "mail"]);
    const [web, books, mail] = r.domains;
    expect(web.documents).toBe(docs.length + 4 * 8);
    expect(web.estimated_tokens).toBeGreaterThan(0);
    expect(web.window).toBe(4);
    expect(web.sources[0].info).toMatchObject({
      format: "parquet",
      files: 2,
      remote: false,
      codecs: ["zstd"],
      metadata: ["score", "url"],
      rowGroups: Math.ceil(docs.length / 2 / 100) * 2,
    });
    expect(web.sources[0].info?.columns).toEqual(["text", "id", "url", "score", "int_score", "token_count"]);
    expect(web.sources[1].problems.map((p) => p.reason)).toEqual(["missing_field", "not_a_string"]);
    expect(books).toMatchObject({ documents: 50, window: 2 });
    expect(books.sources[0].info).toMatchObject({ format: "arrow", files: 1 });
    expect(mail.window).toBeNull();
    expect(mail.sources[0].info).toMatchObject({ format: "jsonl.zst", metadata: ["id"] });
    expect(r.block_bytes_in_use).toBeGreaterThan(0);
  });

  it("prints a readable summary, one block per domain", async () => {
    const { stdout } = await run(process.execPath, [BIN, "inspect", "--config", config]);
    expect(stdout).toMatch(/^web: [\d,]+ documents, ~[\d,]+ tokens \(estimated\), shuffled by row group, window 4$/m);
    expect(stdout).toMatch(/^ {2}parquet {2}local {2}web$/m);
    expect(stdout).toMatch(/cannot serve .*train-00001-of-00004\.parquet: missing_field: no column "text"/);
    expect(stdout).toMatch(/^ {4}metadata: score, url$/m);
    expect(stdout).toMatch(/^block shuffle: ~/m);
  });

  it("mixload tokenize writes Megatron files from Parquet, Arrow and zstd JSONL, counting the skipped rows", async () => {
    const out = path.join(dir, "tokens");
    await run(process.execPath, [BIN, "tokenize", "--config", config, "--out", out]);
    const manifest = JSON.parse(fs.readFileSync(path.join(out, "manifest.json"), "utf8")) as {
      domains: { name: string; documents: number; skipped: Record<string, number> }[];
    };
    const [web, books, mail] = manifest.domains;
    // The bad shards: 8 good rows, 7 of the null-text file; the renamed and BIGINT files serve none.
    expect(web).toMatchObject({ documents: docs.length + 8 + 7, skipped: { missing_field: 8, not_a_string: 1 + 8 } });
    expect(books.documents).toBe(50);
    expect(mail.documents).toBe(30);
    expect(fs.statSync(path.join(out, "web.bin")).size).toBeGreaterThan(0);
  });

  it("names the file when a source cannot be opened, in one line", async () => {
    const broken = path.join(dir, "broken.json");
    const c = JSON.parse(fs.readFileSync(config, "utf8"));
    c.domains[0].sources = [{ type: "parquet", path: "nowhere/*.parquet" }];
    fs.writeFileSync(broken, JSON.stringify(c));
    const err = await run(process.execPath, [BIN, "inspect", "--config", broken]).then(
      () => null,
      (e: { stderr: string; code: number }) => e,
    );
    expect(err?.code).not.toBe(0);
    expect(err?.stderr.trim().split("\n")).toHaveLength(1);
    expect(err?.stderr).toMatch(/nowhere\/\*\.parquet: unreadable_file/);
  });
});
