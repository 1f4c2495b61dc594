/**
 * The gym with a selection policy (issue 12 part 5): a training domain's `select` thins the
 * proxy's train part to the documents the loader's own selection keeps; reference and held-out
 * parts, what every mixer is evaluated on, stay as drawn — so held-out loss with and without
 * selection is compared on the same documents.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseGymConfig } from "../../src/gym/config.js";
import { readCorpus } from "../../src/gym/corpus.js";
import { nameKey, partOf, splitForSeed } from "../../src/gym/split.js";
import { TokenizerPool } from "../../src/tokenize/pool.js";
import { brownDocs, writeJsonl, type FixtureDoc } from "../helpers/parquet-fixtures.js";
import { ROOT, tempDir } from "../helpers/fixtures.js";

const dir = tempDir("mixload-select-gym-");
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const BROWN_4K = path.join(ROOT, "examples/tokenizers/brown-4k");

let news: FixtureDoc[];
let file: string;
beforeAll(async () => {
  news = await brownDocs("ca0[1-3]");
  file = writeJsonl(news, path.join(dir, "news.jsonl"));
});

function gymConfig(select?: unknown, extra: { domains?: unknown[]; dedup?: unknown } = {}) {
  const tokenizer = { path: path.join(BROWN_4K, "tokenizer.json"), config: path.join(BROWN_4K, "tokenizer_config.json"), workers: 0 };
  const domain = { name: "news", sources: [{ type: "jsonl", path: file, metadata: ["score"] }], ...(select ? { select } : {}) };
  const domains = [domain, ...(extra.domains ?? [])];
  const dedup = extra.dedup === undefined ? {} : { dedup: extra.dedup };
  return parseGymConfig({ seed: 3, seq_len: 128, batch_size: 2, cache_dir: path.join(dir, "cache"), tokenizer, domains, ...dedup }, dir);
}

describe("gym with select", () => {
  it("the train part holds exactly the kept documents of the train draw; reference and held-out are unchanged", async () => {
    const pool = new TokenizerPool({ path: path.join(BROWN_4K, "tokenizer.json"), configPath: path.join(BROWN_4K, "tokenizer_config.json") }, 0);
    try {
      const plain = gymConfig();
      const selected = gymConfig({ min: 2.5 });
      const [a, b] = [await readCorpus(plain, pool), await readCorpus(selected, pool)];
      expect(a.domains[0].kept).toBeUndefined();
      expect([...b.domains[0].kept!]).toEqual(news.map((d) => (d.score >= 2.5 ? 1 : 0)));
      const sa = splitForSeed(plain, a, 7, path.join(dir, "a"), pool.vocabSize);
      const sb = splitForSeed(selected, b, 7, path.join(dir, "b"), pool.vocabSize);
      expect(sb.counts.reference).toEqual(sa.counts.reference);
      expect(sb.counts.heldout).toEqual(sa.counts.heldout);
      expect(sb.heldout).toEqual(sa.heldout);
      const drawnTrain = news.map((_, id) => partOf(7, nameKey("news"), id, selected.gym.split) === "train");
      expect(sa.counts.train[0]).toBe(drawnTrain.filter(Boolean).length);
      expect(sb.counts.train[0]).toBe(news.filter((d, id) => drawnTrain[id] && d.score >= 2.5).length);
      expect(sb.counts.train[0]).toBeLessThan(sa.counts.train[0]);
    } finally {
      await pool.close();
    }
  });

  it("top-level dedup thins the train part as the loader does: a later domain's copies of news are dropped, news keeps its own", async () => {
    const pool = new TokenizerPool({ path: path.join(BROWN_4K, "tokenizer.json"), configPath: path.join(BROWN_4K, "tokenizer_config.json") }, 0);
    try {
      // `mixed`: ten of news's paragraphs again, then the paragraphs of another file.
      const own = await brownDocs("cb01");
      const mixedDocs = [...news.slice(0, 10).map((d, i) => ({ ...d, id: `copy-${i}` })), ...own];
      const mixedFile = writeJsonl(mixedDocs, path.join(dir, "mixed.jsonl"));
      const g = gymConfig(undefined, { domains: [{ name: "mixed", sources: [{ type: "jsonl", path: mixedFile }] }], dedup: { exact: true, near: false } });
      const corpus = await readCorpus(g, pool);
      const [newsKept, mixedKept] = corpus.domains.map((d) => d.kept!);
      // Repeats inside one Brown file are rare; whatever news drops, it keeps the first copy of each.
      expect(newsKept.filter((k) => k === 1).length).toBeGreaterThan(news.length - 3);
      expect([...mixedKept.subarray(0, 10)]).toEqual(new Array(10).fill(0));
      expect(mixedKept.subarray(10).every((k) => k === 1)).toBe(true);
      const split = splitForSeed(g, corpus, 7, path.join(dir, "dedup"), pool.vocabSize);
      const drawnTrain = mixedDocs.map((_, id) => partOf(7, nameKey("mixed"), id, g.gym.split) === "train");
      expect(split.counts.train[1]).toBe(drawnTrain.filter((t, id) => t && id >= 10).length);
    } finally {
      await pool.close();
    }
  });
});
