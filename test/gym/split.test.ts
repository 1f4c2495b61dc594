import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseGymConfig } from "../../src/gym/config.js";
import type { GymCorpus } from "../../src/gym/corpus.js";
import { nameKey, partOf, splitForSeed } from "../../src/gym/split.js";
import { openMegatron } from "../../src/sources/index.js";
import { ROOT } from "../helpers/fixtures.js";

const TOK = path.join(ROOT, "examples/tokenizers/brown-4k");

function config(extra: Record<string, unknown> = {}) {
  return parseGymConfig(
    {
      seq_len: 64,
      batch_size: 2,
      tokenizer: { path: path.join(TOK, "tokenizer.json"), config: path.join(TOK, "tokenizer_config.json"), workers: 0 },
      domains: ["a", "b"].map((name) => ({ name, sources: [{ type: "text", path: "unused" }] })),
      gym: { split: { reference: 0.3, heldout: 0.2 }, ...extra },
    },
    ROOT,
  );
}

/** Documents whose first token is their id, so a part's contents say which documents it holds. */
function corpus(n: number): GymCorpus {
  const docs = (base: number) => Array.from({ length: n }, (_, i) => Int32Array.from([base + i, 7, 8, 0]));
  return {
    domains: [
      { name: "a", docs: docs(100), skipped: 0 },
      { name: "b", docs: docs(1000), skipped: 0 },
    ],
    heldout: new Map(),
    target: null,
  };
}

async function firstTokens(prefix: string): Promise<number[]> {
  const src = await openMegatron(prefix, {});
  try {
    return Array.from({ length: src.numDocuments }, (_, d) => {
      const r = src.read(d);
      if (r.kind !== "tokens") throw new Error("not tokens");
      return r.tokens[0];
    });
  } finally {
    src.close();
  }
}

describe("gym per-seed document split", () => {
  it("puts every document in exactly one part, a pure function of (seed, domain name, doc id)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), fc.string({ minLength: 1, maxLength: 12 }), fc.nat(100000), (seed, name, doc) => {
        const f = { reference: 0.25, heldout: 0.15 };
        const p = partOf(seed, nameKey(name), doc, f);
        expect(["train", "reference", "heldout"]).toContain(p);
        expect(partOf(seed, nameKey(name), doc, f)).toBe(p);
      }),
    );
  });

  it("has the configured proportions and changes with the seed", () => {
    const f = { reference: 0.25, heldout: 0.15 };
    const count = (seed: number) => {
      const c = { train: 0, reference: 0, heldout: 0 };
      for (let d = 0; d < 20000; d++) c[partOf(seed, nameKey("news"), d, f)] += 1;
      return c;
    };
    const c = count(1);
    expect(c.reference / 20000).toBeCloseTo(0.25, 1);
    expect(c.heldout / 20000).toBeCloseTo(0.15, 1);
    const moved = Array.from({ length: 1000 }, (_, d) => partOf(1, nameKey("news"), d, f) !== partOf(2, nameKey("news"), d, f)).filter(Boolean).length;
    expect(moved).toBeGreaterThan(300);
  });

  it("writes disjoint train and reference parts, keeps held-out out of both, and the same bytes for the same seed", async () => {
    const g = config();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gym-split-"));
    try {
      const s = splitForSeed(g, corpus(300), 5, path.join(dir, "x"), 4096);
      const again = splitForSeed(g, corpus(300), 5, path.join(dir, "y"), 4096);
      for (const [i, base] of [
        [0, 100],
        [1, 1000],
      ] as const) {
        const train = await firstTokens(path.join(dir, "x", `${i}.train`));
        const ref = await firstTokens(path.join(dir, "x", `${i}.reference`));
        const held = s.heldout[i].map((d) => d[0]);
        const all = [...train, ...ref, ...held].sort((a, b) => a - b);
        // every document once: no part overlaps another, none is lost
        expect(all).toEqual(Array.from({ length: 300 }, (_, k) => base + k));
        expect(train.length).toBe(s.counts.train[i]);
        for (const part of ["train", "reference"])
          expect(fs.readFileSync(path.join(dir, "x", `${i}.${part}.bin`))).toEqual(fs.readFileSync(path.join(dir, "y", `${i}.${part}.bin`)));
      }
      // the loader configs read those parts, the reference with its own seed
      expect(s.train.config.seed).toBe(5);
      expect(s.reference.config.seed).toBe(5 + g.gym.reference.seed_offset);
      expect(s.train.config.domains.map((d) => d.sources[0].path)).toEqual([path.join(dir, "x", "0.train"), path.join(dir, "x", "1.train")]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("says which part of which domain a seed leaves empty", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gym-split-"));
    try {
      expect(() => splitForSeed(config(), corpus(1), 5, dir, 4096)).toThrow(/part of domain "a" empty \(1 documents\)/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses fractions that leave no train part, naming the field", () => {
    expect(() => config({ split: { reference: 0.6, heldout: 0.5 } })).toThrow(/gym\.split/);
  });
});
