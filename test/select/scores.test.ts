/**
 * Scores per document: `mixload score` (perplexity and density) writes one sidecar per source,
 * aligned with document ids and keyed by the source's identity; scores come back from the
 * sidecar or from a metadata field; bad input is one error naming the file, row and field, or a
 * counted skip.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scoreCommand } from "../../src/cli/score.js";
import { openSource } from "../../src/sources/index.js";
import type { DocumentSource } from "../../src/sources/types.js";
import { collectScores } from "../../src/select/scores.js";
import { readSidecar, sidecarPath } from "../../src/select/sidecar.js";
import { brownDocs, writeJsonl, type FixtureDoc } from "../helpers/parquet-fixtures.js";
import { LLAMA3, tempDir } from "../helpers/fixtures.js";

const dir = tempDir("mixload-select-scores-");
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

let news: FixtureDoc[];
let fiction: FixtureDoc[];
beforeAll(async () => {
  news = await brownDocs("ca0[1-4]");
  fiction = await brownDocs("ck0[1-2]");
});

function writeConfig(name: string, domains: unknown[]): string {
  const file = path.join(dir, `${name}.json`);
  const tokenizer = { path: path.join(LLAMA3, "tokenizer.json"), config: path.join(LLAMA3, "tokenizer_config.json"), workers: 0 };
  fs.writeFileSync(file, JSON.stringify({ seed: 3, seq_len: 128, batch_size: 2, tokenizer, domains }));
  return file;
}

async function open(file: string, metadata: string[] = []): Promise<DocumentSource> {
  return openSource({ type: "jsonl", path: file, field: "text", metadata }, { baseDir: dir });
}

describe("mixload score", () => {
  it("perplexity: one finite score per document, lower on the reference domain than on another genre", async () => {
    const a = writeJsonl(news, path.join(dir, "ppl/news.jsonl"));
    const b = writeJsonl(fiction, path.join(dir, "ppl/fiction.jsonl"));
    const config = writeConfig("ppl", [
      { name: "news", sources: [{ type: "jsonl", path: a }] },
      { name: "fiction", sources: [{ type: "jsonl", path: b }] },
    ]);
    const out = path.join(dir, "ppl-scores");
    const summary = await scoreCommand({ config, method: "perplexity", reference: "news", out });
    expect(summary.domains.map((d) => [d.name, d.documents, d.scored])).toEqual([
      ["news", news.length, news.length],
      ["fiction", fiction.length, fiction.length],
    ]);
    const [sa, sb] = [await open(a), await open(b)];
    const na = readSidecar(sidecarPath(out, "news", 0), sa);
    const nb = readSidecar(sidecarPath(out, "fiction", 0), sb);
    expect(na.header).toMatchObject({ field: "perplexity", method: "perplexity", documents: news.length });
    for (const s of [...na.scores, ...nb.scores]) expect(s).toBeGreaterThan(1);
    expect(summary.domains[0].median).toBeLessThan(summary.domains[1].median);
    sa.close();
    sb.close();
  });

  it("density: planted copies score far above the domain's unique documents", async () => {
    const planted = news.slice(0, 120).map((d) => d.text);
    for (let k = 0; k < 30; k++) planted.push(news[7].text); // 31 copies of document 7
    const file = path.join(dir, "density/news.jsonl");
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, planted.map((text) => JSON.stringify({ text })).join("\n") + "\n");
    const config = writeConfig("density", [{ name: "news", sources: [{ type: "jsonl", path: file }] }]);
    const out = path.join(dir, "density-scores");
    await scoreCommand({ config, method: "density", out });
    const source = await open(file);
    const { scores } = readSidecar(sidecarPath(out, "news", 0), source);
    source.close();
    const unique = [...scores.slice(0, 120)].filter((_, i) => i !== 7).sort((x, y) => x - y);
    const median = unique[unique.length >> 1];
    expect(scores[7]).toBeGreaterThan(4 * median);
    expect(scores[130]).toBe(scores[7]);
  });

  it("a sidecar from another version of the data is refused naming the sidecar and what changed", async () => {
    const file = writeJsonl(news.slice(0, 40), path.join(dir, "changed/news.jsonl"));
    const config = writeConfig("changed", [{ name: "news", sources: [{ type: "jsonl", path: file }] }]);
    const out = path.join(dir, "changed-scores");
    await scoreCommand({ config, method: "density", out });
    writeJsonl(news.slice(0, 41), file);
    const source = await open(file);
    const sidecar = sidecarPath(out, "news", 0);
    await expect(collectScores([source], { domain: "news", field: "density", sidecars: out, onError: "fail" })).rejects.toThrow(
      new RegExp(
        `^${sidecar.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: bad_format: scores were computed from another version of the data \\(${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} changed: size \\d+ → \\d+\\)`,
      ),
    );
    source.close();
  });
});

describe("scores from metadata", () => {
  const lines = [{ text: "a", q: 0.5 }, { text: "b", q: 0.9 }, { text: "c" }, { text: "d", q: "high" }, { text: "e", q: 0.1 }];
  let file: string;
  beforeAll(() => {
    file = path.join(dir, "meta.jsonl");
    fs.writeFileSync(file, lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
  });

  it("a missing field is an error naming file, line and field", async () => {
    const source = await open(file, ["q"]);
    await expect(collectScores([source], { domain: "d", field: "q", onError: "fail" })).rejects.toThrow(
      `${file}:3: missing_field: score field "q" has no value`,
    );
    source.close();
  });

  it("under on_error: skip, missing and non-numeric scores are NaN (counted later as bad_score)", async () => {
    const source = await open(file, ["q"]);
    const { values, fromSidecar } = await collectScores([source], { domain: "d", field: "q", onError: "skip" });
    expect(fromSidecar).toBe(false);
    expect([...values]).toEqual([0.5, 0.9, NaN, NaN, 0.1]);
    source.close();
  });

  it("a non-numeric value is an error naming what it is", async () => {
    const source = await open(path.join(dir, "meta.jsonl"), ["q"]);
    const only = lines.filter((l) => l.q !== undefined);
    fs.writeFileSync(path.join(dir, "meta2.jsonl"), only.map((l) => JSON.stringify(l)).join("\n") + "\n");
    const s2 = await open(path.join(dir, "meta2.jsonl"), ["q"]);
    await expect(collectScores([s2], { domain: "d", field: "q", onError: "fail" })).rejects.toThrow(
      /meta2\.jsonl:3: bad_metadata: score field "q" is a string, not a number/,
    );
    source.close();
    s2.close();
  });

  it("NaN in a sidecar is an error naming the sidecar and row", async () => {
    const file2 = writeJsonl(news.slice(0, 5), path.join(dir, "nan/news.jsonl"));
    const source = await open(file2);
    const out = path.join(dir, "nan-scores");
    const { writeSidecar } = await import("../../src/select/sidecar.js");
    writeSidecar(sidecarPath(out, "news", 0), source, Float64Array.from([1, 2, NaN, 4, 5]), { field: "quality", method: "user" });
    await expect(collectScores([source], { domain: "news", field: "quality", sidecars: out, onError: "fail" })).rejects.toThrow(
      `${sidecarPath(out, "news", 0)}:row 2: bad_metadata: score "quality" is NaN`,
    );
    source.close();
  });
});
