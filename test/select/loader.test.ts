/**
 * Selection and dedup wired into a real Loader over real JSONL and Parquet files (Brown
 * paragraphs with FineWeb-Edu-like `score` columns, test/helpers/parquet-fixtures.ts):
 *
 * - an epoch serves every kept document exactly once, and nothing else;
 * - batches are identical across resume points and tokenizer worker counts (fast-check);
 * - which documents are kept does not depend on the seed for thresholds and top fraction;
 * - dedup's drops are never served; stats count kept and dropped per domain and reason;
 * - natural/temperature mixers see kept tokens only;
 * - bad input: a score field the source does not attach, a sidecar from other data.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { configFingerprint, Loader } from "../../src/loader/loader.js";
import { batchDigest } from "../../src/batch/assemble.js";
import { applyPlan, planSelection, selectSchema } from "../../src/select/policy.js";
import { writeSidecar, sidecarPath } from "../../src/select/sidecar.js";
import { openSource } from "../../src/sources/index.js";
import { brownDocs, writeJsonl, writeParquet, type FixtureDoc } from "../helpers/parquet-fixtures.js";
import { LLAMA3, loaded, tempDir } from "../helpers/fixtures.js";

const dir = tempDir("mixload-select-loader-");
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

let news: FixtureDoc[];
let editorial: FixtureDoc[];
let newsFile: string;
let editorialFile: string;

beforeAll(async () => {
  news = await brownDocs("ca01");
  editorial = await brownDocs("cb01");
  newsFile = writeJsonl(news, path.join(dir, "news.jsonl"));
  editorialFile = await writeParquet(editorial, path.join(dir, "editorial.parquet"), { rowGroupSize: 16 });
});

const NEWS_SELECT = { min: 1, top_fraction: 0.6 };
const EDITORIAL_SELECT = { sample: "tempered", rate: 0.5, temperature: 2 };

function config(overrides: Record<string, unknown> = {}, selects: [unknown, unknown] = [NEWS_SELECT, EDITORIAL_SELECT]): Record<string, unknown> {
  return {
    seed: 11,
    seq_len: 128,
    batch_size: 2,
    world: 2,
    cache_dir: path.join(dir, "cache"),
    tokenizer: { path: path.join(LLAMA3, "tokenizer.json"), config: path.join(LLAMA3, "tokenizer_config.json"), workers: 0 },
    packing: { strategy: "best_fit", buffer_docs: 16, max_hold_rounds: 2 },
    domains: [
      { name: "news", sources: [{ type: "jsonl", path: newsFile, metadata: ["score"] }], ...(selects[0] ? { select: selects[0] } : {}) },
      { name: "editorial", sources: [{ type: "parquet", path: editorialFile, metadata: ["score"], window: 2 }], ...(selects[1] ? { select: selects[1] } : {}) },
    ],
    ...overrides,
  };
}

/** What the policy keeps of a fixture, computed from the fixture's own scores (not through the loader). */
function expectedKept(docs: readonly FixtureDoc[], select: unknown, seed: number, domain: number): number[] {
  const scores = Float64Array.from(docs, (d) => d.score);
  const policy = selectSchema.parse(select);
  return [...applyPlan(planSelection(policy, seed, domain, scores), docs.length, scores).kept];
}

/** Per domain, per epoch: the document ids whose first piece was served, in serving order. */
async function serve(loader: Loader, steps: number, served: number[][][] = loader.domains.map(() => [])): Promise<number[][][]> {
  for (let s = 0; s < steps; s++) {
    await loader.next([0.5, 0.5]);
    // [id, domain, epoch, position in the domain's order, offset, ...]: a document counts at its first piece.
    for (const row of loader.lastServed())
      for (const [, domain, epoch, position, offset] of row) {
        if (offset !== 0) continue;
        const { index } = loader.documentAt(domain, { epoch, position });
        (served[domain][epoch] ??= []).push(index);
      }
  }
  return served;
}

describe("selection in the loader", () => {
  it("an epoch serves every kept document exactly once, over 2 lanes (JSONL by Feistel order, Parquet by block shuffle over kept row groups)", async () => {
    const loader = await Loader.open(loaded(config({ lanes: 2 })));
    try {
      const served = await serve(loader, 60);
      const kept = [expectedKept(news, NEWS_SELECT, 11, 0), expectedKept(editorial, EDITORIAL_SELECT, 11, 1)];
      expect(kept[0].length).toBeGreaterThan(5);
      expect(kept[1].length).toBeGreaterThan(5);
      for (let d = 0; d < 2; d++) {
        const epochs = served[d];
        // Every epoch before the last two started is complete (the packer may still hold a few documents of the one before).
        expect(epochs.length).toBeGreaterThanOrEqual(4);
        for (let e = 0; e < epochs.length - 2; e++) expect([...epochs[e]].sort((a, b) => a - b)).toEqual(kept[d]);
      }
      const stats = loader.stats().selection!;
      expect(stats.news).toMatchObject({ documents: news.length, kept: kept[0].length });
      expect(stats.news.dropped.threshold + stats.news.dropped.top_fraction).toBe(news.length - kept[0].length);
      expect(stats.editorial.dropped.sampled_out).toBe(editorial.length - kept[1].length);
    } finally {
      await loader.close();
    }
  });

  it("batches are identical across resume points and worker counts", async () => {
    const steps = 14;
    const reference: string[] = [];
    const straight = await Loader.open(loaded(config()));
    try {
      for (let s = 0; s < steps; s++) reference.push(batchDigest((await straight.next([0.3, 0.7]))!));
    } finally {
      await straight.close();
    }
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: steps - 1 }), fc.constantFrom(0, 2), async (at, workers) => {
        const first = await Loader.open(loaded(config()), { workers });
        let state;
        try {
          for (let s = 0; s < at; s++) expect(batchDigest((await first.next([0.3, 0.7]))!)).toBe(reference[s]);
          state = first.state();
        } finally {
          await first.close();
        }
        const second = await Loader.open(loaded(config()), { workers });
        try {
          await second.restore(JSON.parse(JSON.stringify(state)));
          for (let s = at; s < steps; s++) expect(batchDigest((await second.next([0.3, 0.7]))!)).toBe(reference[s]);
        } finally {
          await second.close();
        }
      }),
      { numRuns: 3 },
    );
  }, 120_000);

  it("thresholds and top fraction keep the same documents under any seed; sampling keeps another set", async () => {
    const keptOf = async (seed: number) => {
      const loader = await Loader.open(loaded(config({ seed })));
      try {
        return loader.stats().selection!;
      } finally {
        await loader.close();
      }
    };
    const [a, b] = [await keptOf(1), await keptOf(2)];
    expect(a.news).toEqual(b.news);
    expect(expectedKept(editorial, EDITORIAL_SELECT, 1, 1)).not.toEqual(expectedKept(editorial, EDITORIAL_SELECT, 2, 1));
  });

  it("dedup's drops are never served, and are counted by reason", async () => {
    // news with 10 exact copies of earlier paragraphs appended.
    const copies = [...news, ...news.slice(0, 10).map((d, i) => ({ ...d, id: `copy-${i}` }))];
    const file = writeJsonl(copies, path.join(dir, "news-dups.jsonl"));
    const c = config({ dedup: { exact: true, near: false } }, [NEWS_SELECT, null]);
    (c.domains as { sources: { path: string }[] }[])[0].sources[0].path = file;
    const loader = await Loader.open(loaded(c));
    try {
      const served = await serve(loader, 60);
      const stats = loader.stats().selection!;
      expect(stats.news.dropped.exact_dup).toBe(10);
      expect(stats.editorial).toMatchObject({ documents: editorial.length, kept: editorial.length });
      for (const epoch of served[0]) for (const id of epoch) expect(id).toBeLessThan(news.length);
    } finally {
      await loader.close();
    }
  });

  it("natural weights count kept tokens only", async () => {
    const all = await Loader.open(loaded(config({}, [null, null])));
    const some = await Loader.open(loaded(config({}, [{ top_fraction: 0.25 }, null])));
    try {
      const [a, b] = [await all.domainInfo(), await some.domainInfo()];
      expect(b[1].tokens).toBe(a[1].tokens);
      const fraction = Math.round(0.25 * news.length) / news.length;
      expect(b[0].tokens / a[0].tokens).toBeGreaterThan(0.5 * fraction);
      expect(b[0].tokens / a[0].tokens).toBeLessThan(1.6 * fraction);
    } finally {
      await all.close();
      await some.close();
    }
  });

  it("sidecar scores are attached to served documents as metadata", async () => {
    const out = path.join(dir, "sidecars");
    const source = await openSource({ type: "jsonl", path: newsFile, field: "text", metadata: [] }, { baseDir: dir });
    writeSidecar(
      sidecarPath(out, "news", 0),
      source,
      Float64Array.from(news, (_, i) => i),
      { field: "quality", method: "test" },
    );
    source.close();
    const c = config({}, [{ score: "quality", scores: out, min: 10 }, null]);
    const loader = await Loader.open(loaded(c));
    try {
      const served = await serve(loader, 10);
      for (const id of served[0].flat()) expect(id).toBeGreaterThanOrEqual(10);
      expect(loader.stats().selection!.news.dropped.threshold).toBe(10);
    } finally {
      await loader.close();
    }
  });
});

describe("fingerprint", () => {
  it("changes with the policy and with dedup, and is unchanged for configs without either", () => {
    const fp = (c: Record<string, unknown>) => configFingerprint(loaded(c).config);
    const plain = config({}, [null, null]);
    expect(fp(plain)).toBe(fp(JSON.parse(JSON.stringify(plain))));
    const prints = [
      plain,
      config(),
      config({}, [{ ...NEWS_SELECT, top_fraction: 0.5 }, EDITORIAL_SELECT]),
      config({ dedup: { exact: true } }, [null, null]),
    ].map(fp);
    expect(new Set(prints).size).toBe(4);
    // No `select` key and no `dedup` key: the fingerprint input has neither (states saved before selection existed still resume).
    expect(JSON.stringify(loaded(plain).config.domains)).not.toContain(`"select":`);
  });
});

describe("bad input at open", () => {
  it("a score field the source does not attach is a config error naming the field and source", async () => {
    const c = config({}, [{ score: "quality", min: 0 }, null]);
    await expect(Loader.open(loaded(c))).rejects.toThrow(
      'config domains[0].select.score: "quality" is not a metadata field of domains[0].sources[0] (jsonl, metadata: score); list it there, or give select.scores',
    );
  });

  it("NaN scores: an error naming file, row and field, or counted as bad_score under on_error: skip", async () => {
    const withNaN = news.map((d, i) => (i === 5 ? { ...d, score: Number.NaN } : d));
    // JSON has no NaN: writeJsonl writes null, i.e. a missing score.
    const file = writeJsonl(withNaN, path.join(dir, "news-nan.jsonl"));
    const c = config({}, [NEWS_SELECT, null]);
    (c.domains as { sources: { path: string }[] }[])[0].sources[0].path = file;
    await expect(Loader.open(loaded(c))).rejects.toThrow(`${file}:6: missing_field: score field "score" has no value`);
    const loader = await Loader.open(loaded({ ...c, on_error: "skip" }));
    try {
      expect(loader.stats().selection!.news.dropped.bad_score).toBe(1);
    } finally {
      await loader.close();
    }
  });
});
