/**
 * Parquet and Arrow domains in the whole loader: the block shuffle is a bijection with locality;
 * the same documents as JSONL and as Parquet give the same multiset of served pieces over an
 * epoch (every row exactly once); resume at any step is bit-identical with Parquet, Arrow and
 * zstd-JSONL domains across seeds, weights and worker counts; and the default window and cache
 * keep the I/O amplification near 1.
 */
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { BlockShuffle } from "../../src/sample/block-shuffle.js";
import { Loader, type LoaderState } from "../../src/loader/loader.js";
import { batchDigest, type Batch } from "../../src/batch/assemble.js";
import { decodeStateBlob, encodeStateBlob } from "../../src/loader/state-blob.js";
import { loaded, smallBrownConfig, tempDir } from "../helpers/fixtures.js";
import { mixedDocs, writeArrowIpc, writeJsonl, writeParquet, type FixtureDoc } from "../helpers/parquet-fixtures.js";

describe("block shuffle", () => {
  const blocksArb = fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 30 }).filter((b) => b.some((n) => n > 0));

  it("is a bijection of [0, n) for any block sizes, window and key", () => {
    fc.assert(
      fc.property(blocksArb, fc.integer({ min: 1, max: 8 }), fc.nat(), (blocks, window, key) => {
        const order = new BlockShuffle(blocks, window, key);
        const n = blocks.reduce((a, b) => a + b, 0);
        expect(order.n).toBe(n);
        const seen = new Uint8Array(n);
        for (let p = 0; p < n; p++) seen[order.permute(p)]++;
        expect(seen.every((c) => c === 1)).toBe(true);
      }),
    );
  });

  it("has at most `window` blocks in use at any position: each block is served within one window", () => {
    fc.assert(
      fc.property(blocksArb, fc.integer({ min: 1, max: 8 }), fc.nat(), (blocks, window, key) => {
        const order = new BlockShuffle(blocks, window, key);
        const starts = [0];
        for (const b of blocks) starts.push(starts[starts.length - 1] + b);
        const blockOf = (doc: number) => starts.findIndex((s, i) => i < blocks.length && doc >= s && doc < starts[i + 1]);
        const first = new Map<number, number>();
        const last = new Map<number, number>();
        for (let p = 0; p < order.n; p++) {
          const b = blockOf(order.permute(p));
          if (!first.has(b)) first.set(b, p);
          last.set(b, p);
        }
        // A block is "in use" from its first to its last served row.
        for (let p = 0; p < order.n; p++) {
          let open = 0;
          for (const [b, f] of first) if (f <= p && p <= last.get(b)!) open++;
          expect(open).toBeLessThanOrEqual(window);
        }
      }),
      { numRuns: 60 },
    );
  });

  it("differs per epoch key, and shuffles rows inside windows far better than reading in order", () => {
    const blocks = Array.from({ length: 40 }, () => 250);
    const a = new BlockShuffle(blocks, 4, 1);
    const b = new BlockShuffle(blocks, 4, 2);
    let same = 0;
    let jump = 0;
    for (let p = 0; p < a.n; p++) {
      if (a.permute(p) === b.permute(p)) same++;
      if (p > 0) jump += Math.abs(a.permute(p) - a.permute(p - 1));
    }
    expect(same).toBeLessThan(a.n / 100);
    // Consecutive documents land ~window·rows/3 apart on average (in-order reading: 1).
    expect(jump / (a.n - 1)).toBeGreaterThan(250);
  });
});

let docs: FixtureDoc[];
let dir: string;
beforeAll(async () => {
  docs = await mixedDocs();
  dir = tempDir("mixload-parquet-loader-");
});

function config(domains: Record<string, unknown>[], overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return smallBrownConfig({ seq_len: 256, batch_size: 2, world: 1, domains, ...overrides });
}

/** Every non-padding segment (a document or a piece of one) of a batch, as a string key. */
function pieces(batch: Batch): string[] {
  const out: string[] = [];
  const cu = batch.cu_seqlens;
  for (let s = 0; s + 1 < cu.length; s++) {
    if (batch.domain_ids[cu[s]] < 0) continue;
    out.push(`${batch.domain_ids[cu[s]]}:${Array.from(batch.input_ids.subarray(cu[s], cu[s + 1])).join(",")}`);
  }
  return out;
}

async function epochPieces(domains: Record<string, unknown>[]): Promise<string[]> {
  const loader = await Loader.open(loaded(config(domains, { on_exhausted: "drop" })));
  const all: string[] = [];
  try {
    for (;;) {
      const batch = await loader.next([1]);
      if (batch === null) break;
      all.push(...pieces(batch));
    }
  } finally {
    await loader.close();
  }
  return all.sort();
}

describe("Parquet and Arrow domains in the loader", () => {
  it("serve the same multiset of pieces over an epoch as the same documents in JSONL (every row exactly once)", async () => {
    const jsonl = writeJsonl(docs, path.join(dir, "same.jsonl"));
    const parquet = await writeParquet(docs, path.join(dir, "same.parquet"), { rowGroupSize: 40, codec: "zstd" });
    const arrow = writeArrowIpc(docs, path.join(dir, "same.arrow"), "stream", 64);
    const fromJsonl = await epochPieces([{ name: "d", sources: [{ type: "jsonl", path: jsonl }] }]);
    const fromParquet = await epochPieces([{ name: "d", sources: [{ type: "parquet", path: parquet }] }]);
    const fromArrow = await epochPieces([{ name: "d", sources: [{ type: "arrow", path: arrow, window: 2 }] }]);
    expect(fromJsonl.length).toBeGreaterThanOrEqual(docs.length);
    expect(fromParquet).toEqual(fromJsonl);
    expect(fromArrow).toEqual(fromJsonl);
  });

  it("resume at any step is bit-identical with Parquet, Arrow and zstd-JSONL domains, any seed, weights and worker count", async () => {
    const parquet = await writeParquet(docs, path.join(dir, "r.parquet"), { rowGroupSize: 30, codec: "snappy" });
    const arrow = writeArrowIpc(docs.slice(0, 200), path.join(dir, "r.arrow"), "file", 25);
    const jsonl = writeJsonl(docs.slice(100), path.join(dir, "r.jsonl"));
    try {
      execFileSync("zstd", ["-q", "-f", jsonl, "-o", `${jsonl}.zst`]);
    } catch (e) {
      throw new Error(`this test writes its .jsonl.zst with the zstd CLI: apt-get install -y zstd (${(e as Error).message})`);
    }
    const domains = [
      { name: "parquet", sources: [{ type: "parquet", path: parquet, metadata: ["score"], window: 2 }] },
      { name: "arrow", sources: [{ type: "arrow", path: arrow }] },
      { name: "zst", sources: [{ type: "jsonl", path: `${jsonl}.zst` }] },
    ];
    const weightsArb = fc.array(fc.double({ min: 0.05, max: 1, noNaN: true }), { minLength: 3, maxLength: 3 });
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: 2 ** 31 }),
        weightsArb,
        fc.integer({ min: 0, max: 10 }),
        fc.constantFrom(0, 2),
        async (seed, weights, resumeAt, workers) => {
          const open = () => Loader.open(loaded(config(domains, { seed, packing: { strategy: "best_fit", buffer_docs: 24 } })), { workers });
          const run = async (loader: Loader, steps: number) => {
            const out: string[] = [];
            for (let i = 0; i < steps; i++) out.push(batchDigest((await loader.next(weights))!));
            return out;
          };
          const whole = await open();
          const expected = await run(whole, 10);
          await whole.close();
          const first = await open();
          const head = await run(first, resumeAt);
          const blob = encodeStateBlob(first.state());
          await first.close();
          const second = await open();
          await second.restore(decodeStateBlob(blob) as LoaderState);
          const tail = await run(second, 10 - resumeAt);
          await second.close();
          expect([...head, ...tail]).toEqual(expected);
        },
      ),
      // Each run opens three loaders (~2 s of tokenizer start-up each): few runs, each a full resume check.
      { numRuns: 5 },
    );
  }, 300_000);

  it("decodes each row group about once per epoch with the default window and cache (I/O amplification ≤ 1.5)", async () => {
    const parquet = await writeParquet(docs, path.join(dir, "amp.parquet"), { rowGroupSize: 20 });
    const loader = await Loader.open(loaded(config([{ name: "d", sources: [{ type: "parquet", path: parquet }] }], { on_exhausted: "drop" })));
    try {
      while ((await loader.next([1])) !== null);
      const [c] = loader.blockReadCounters();
      expect(c.charsServed).toBeGreaterThan(0);
      expect(c.charsDecoded / c.charsServed).toBeLessThanOrEqual(1.5);
    } finally {
      await loader.close();
    }
  });

  it("a bad row stops the run naming file:row under on_error fail, and is counted under skip", async () => {
    const withNull = await (async () => {
      const { writeBadParquet } = await import("../helpers/parquet-fixtures.js");
      const bad = await writeBadParquet(docs.slice(0, 8), path.join(dir, "bad"));
      return bad;
    })();
    const domains = [{ name: "d", sources: [{ type: "parquet", path: withNull.nullText }] }];
    const failing = await Loader.open(loaded(config(domains, { on_exhausted: "drop" })));
    try {
      await expect(
        (async () => {
          while ((await failing.next([1])) !== null);
        })(),
      ).rejects.toThrow(new RegExp(`^${withNull.nullText}:row ${withNull.nullTextRow}: not_a_string: column "text" is null$`));
    } finally {
      await failing.close();
    }
    const skipping = await Loader.open(loaded(config(domains, { on_exhausted: "drop", on_error: "skip" })));
    try {
      while ((await skipping.next([1])) !== null);
      expect(skipping.stats().skipped).toEqual({ not_a_string: 1 });
    } finally {
      await skipping.close();
    }
    void fs;
  });
});
