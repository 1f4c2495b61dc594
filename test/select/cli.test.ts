/**
 * Selection through the real command line (dist/, as users run it): `mixload score` writes the
 * sidecars, `inspect` shows kept and dropped per domain and reason, `batches` resumes only over
 * the same selection, and bad input is one line without a stack trace.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mixload } from "../cli/mixload.js";
import { brownDocs, writeJsonl } from "../helpers/parquet-fixtures.js";
import { ROOT, tempDir } from "../helpers/fixtures.js";

/** The small bundled tokenizer: each command here is a fresh process that loads it. */
const BROWN_4K = path.join(ROOT, "examples/tokenizers/brown-4k");

const dir = tempDir("mixload-select-cli-");
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

let newsFile: string;
let fictionFile: string;
beforeAll(async () => {
  newsFile = writeJsonl(await brownDocs("ca01"), path.join(dir, "news.jsonl"));
  fictionFile = writeJsonl(await brownDocs("ck01"), path.join(dir, "fiction.jsonl"));
});

function writeConfig(name: string, select: Record<string, unknown>): string {
  const file = path.join(dir, `${name}.json`);
  const tokenizer = { path: path.join(BROWN_4K, "tokenizer.json"), config: path.join(BROWN_4K, "tokenizer_config.json"), workers: 0 };
  const domains = [
    { name: "news", sources: [{ type: "jsonl", path: newsFile }], select },
    { name: "fiction", sources: [{ type: "jsonl", path: fictionFile }] },
  ];
  fs.writeFileSync(file, JSON.stringify({ seed: 5, seq_len: 128, batch_size: 4, tokenizer, domains, mixer: { name: "natural" } }));
  return file;
}

describe("mixload score / inspect / batches with select", () => {
  it("score → inspect shows kept and dropped per reason; a changed sidecar refuses to resume", async () => {
    const scores = path.join(dir, "scores");
    const config = writeConfig("ppl", { score: "perplexity", scores, prefer: "low", top_fraction: 0.5 });
    const scored = await mixload("score", "--config", config, "--method", "perplexity", "--reference", "fiction", "--out", scores, "--json");
    expect(scored.stderr).toBe("");
    expect(JSON.parse(scored.stdout)).toMatchObject({ method: "perplexity", field: "perplexity" });

    const inspected = await mixload("inspect", "--config", config, "--json");
    expect(inspected.stderr).toBe("");
    const report = JSON.parse(inspected.stdout) as {
      domains: { name: string; documents: number; selection: { kept: number; dropped: Record<string, number> } }[];
    };
    const news = report.domains[0];
    expect(news.selection.kept).toBe(Math.round(news.documents / 2));
    expect(news.selection.dropped.top_fraction).toBe(news.documents - news.selection.kept);
    expect(report.domains[1].selection).toMatchObject({ kept: report.domains[1].documents });
    const text = await mixload("inspect", "--config", config);
    expect(text.stdout).toContain(`selection: ${news.selection.kept} kept of ${news.documents}; dropped top_fraction ${news.selection.dropped.top_fraction}`);

    const state = path.join(dir, "state.bin");
    const first = await mixload("batches", "--config", config, "--steps", "3", "--save-state", state, "--digest");
    expect(first.stderr).toBe("");
    // Another selection behind the same config and data: perplexity under another reference domain.
    expect((await mixload("score", "--config", config, "--method", "perplexity", "--reference", "news", "--out", scores)).stderr).toBe("");
    const resumed = await mixload("batches", "--config", config, "--steps", "2", "--resume", state, "--digest");
    expect(resumed.code).toBe(1);
    expect(resumed.stderr).toMatch(/^mixload: .*the documents selected in domain "news" differ from the state's/);
    expect(resumed.stderr.split("\n").filter((l) => l !== "")).toHaveLength(1);
  }, 240_000);

  it("sidecars of another score are refused naming the sidecar", async () => {
    const scores = path.join(dir, "density");
    const config = writeConfig("density", { score: "perplexity", scores, max: 100 });
    expect((await mixload("score", "--config", config, "--method", "density", "--out", scores)).code).toBe(0);
    const r = await mixload("inspect", "--config", config);
    expect(r.stderr).toBe(`mixload: ${path.join(scores, "news.0.scores")}: bad_format: holds "density" scores (density), select.score asks for "perplexity"\n`);
  }, 120_000);

  it("a select field the source does not attach is one line naming the field", async () => {
    const config = writeConfig("missing", { score: "score", min: 1 });
    const r = await mixload("batches", "--config", config, "--steps", "1");
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'mixload: config domains[0].select.score: "score" is not a metadata field of domains[0].sources[0] (jsonl, no metadata); list it there, or give select.scores (a folder written by mixload score)\n',
    );
  });
});
