/**
 * Dedup is a pure function of the documents and the parameters: the order documents are read in
 * (rows filled in any order), the planting seed of the test data and the MinHash seed change
 * nothing that should not change — checked with fast-check.
 */
import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { DocumentSigner, SignatureStore } from "../../src/select/dedup/store.js";
import { findDuplicates, type Clusters } from "../../src/select/dedup/clusters.js";
import type { DedupParams } from "../../src/select/dedup/params.js";
import { mulberry32 } from "../../src/util/hash.js";
import { plant, spamTexts, stringShingleSets, truePairs } from "./dedup-fixtures.js";

const base = spamTexts(32).slice(0, 100);
const params = (seed = 1): DedupParams => ({ exact: true, near: { threshold: 0.8, num_perm: 64, bands: 16, ngram: 5, verify: "exact", seed } });

/** Sign `texts` in the given order of document numbers, then cluster. */
async function clustersOf(texts: readonly string[], order: readonly number[], p: DedupParams): Promise<Clusters> {
  const store = new SignatureStore(texts.length, p);
  const signer = new DocumentSigner(p);
  for (const g of order) signer.sign({ kind: "text", text: texts[g] }, store, g);
  return findDuplicates(store, p, async (docs) => Array.from(docs, (g) => signer.shingleSet({ kind: "text", text: texts[g] })));
}

function shuffled(n: number, seed: number): number[] {
  const rng = mulberry32(seed);
  const xs = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

describe("dedup determinism", () => {
  test("the same clusters whatever order documents are read in, for any planting", async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.nat(), async (plantSeed, orderSeed) => {
        const { texts } = plant(base, 60, plantSeed);
        texts.push(texts[3], texts[120]); // exact twins of an original and of a planted copy
        const inOrder = await clustersOf(
          texts,
          texts.map((_, i) => i),
          params(),
        );
        const anyOrder = await clustersOf(texts, shuffled(texts.length, orderSeed), params());
        expect(anyOrder.rep).toEqual(inOrder.rep);
        expect(anyOrder.reason).toEqual(inOrder.reason);
        expect(inOrder.reason[texts.length - 2]).toBe(1);
        expect(inOrder.rep[texts.length - 2]).toBe(inOrder.rep[3]);
      }),
      { numRuns: 6 },
    );
  });

  test("for any planting and MinHash seed, every pair at Jaccard ≥ 0.8 ends in one cluster kept at its smallest number", async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.integer({ min: 0, max: 2 ** 32 - 1 }), async (plantSeed, minhashSeed) => {
        const { texts } = plant(base, 60, plantSeed);
        const c = await clustersOf(
          texts,
          texts.map((_, i) => i),
          params(minhashSeed),
        );
        const truth = truePairs(stringShingleSets(texts), 0.8);
        expect(truth.length).toBeGreaterThan(10);
        for (const [i, j] of truth) expect(c.rep[i], `pair ${i}, ${j}`).toBe(c.rep[j]);
        for (let g = 0; g < texts.length; g++) {
          expect(c.rep[g]).toBeLessThanOrEqual(g);
          expect(c.reason[g] === 0).toBe(c.rep[g] === g);
        }
      }),
      { numRuns: 6 },
    );
  });
});
