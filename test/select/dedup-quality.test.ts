/**
 * Near-duplicate quality on real text (issue 12: recall ≥ 0.95 and precision ≥ 0.95 at Jaccard
 * ≥ 0.8): 800 Spam Assassin mails (a contiguous run of the spam folders) plus 250 copies edited at random (edit rates 0.5 %–10 %,
 * so true similarities fall on both sides of 0.8), deduplicated through a real JSONL source, and
 * judged against brute-force Jaccard of string shingles over all pairs — planted pairs and the
 * corpus's own near duplicates (spam campaigns, list mail) alike.
 */
import path from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { openJsonl } from "../../src/sources/jsonl.js";
import { dedupCorpus } from "../../src/select/dedup/dedup.js";
import type { DedupResult } from "../../src/select/dedup/result.js";
import { tempDir } from "../helpers/fixtures.js";
import { plant, quality, spamTexts, stringShingleSets, truePairs, writeJsonl } from "./dedup-fixtures.js";

const THRESHOLD = 0.8;
/** A contiguous run of the corpus's file order (spam-1 and spam-2), where campaigns put real near duplicates side by side. */
const SAMPLE = [4300, 5100] as const;
const near = { threshold: THRESHOLD, num_perm: 128, bands: 32, ngram: 5, verify: "exact" as const, seed: 1 };

describe("near duplicates in Spam Assassin mails with planted copies", () => {
  let texts: string[];
  let origin: number[];
  let sets: Int32Array[];
  let truth: [number, number, number][];
  let result: DedupResult;

  beforeAll(async () => {
    ({ texts, origin } = plant(spamTexts(1).slice(SAMPLE[0], SAMPLE[1]), 250, 1));
    sets = stringShingleSets(texts);
    truth = truePairs(sets, THRESHOLD);
    const source = await openJsonl(writeJsonl(path.join(tempDir(), "mail.jsonl"), texts), { field: "text", metadata: [] });
    result = await dedupCorpus([{ name: "mail", sources: [source] }], { exact: true, near }, { edges: true });
    source.close();
  });

  test("the sample has planted pairs and the corpus's own near duplicates on both sides of the threshold", () => {
    const planted = truth.filter(([i, j]) => origin[j] === i).length;
    const natural = truth.filter(([i, j]) => origin[i] === -1 && origin[j] === -1).length;
    expect(planted).toBeGreaterThan(50);
    expect(natural).toBeGreaterThan(10);
    // Planted copies below the threshold exist too, so a detector that joined every planted pair would lose precision.
    const below = origin.filter((o, j) => o >= 0 && !truth.some(([a, b]) => a === o && b === j)).length;
    expect(below).toBeGreaterThan(30);
  });

  test("recall ≥ 0.95 and precision ≥ 0.95 at Jaccard ≥ 0.8 against brute force", () => {
    const q = quality(sets, truth, result, THRESHOLD);
    expect(q.edges).toBeGreaterThan(50);
    expect(q.recall, `recall over ${q.truth} true pairs`).toBeGreaterThanOrEqual(0.95);
    expect(q.precision, `false positives: ${JSON.stringify(q.falsePositives.slice(0, 5))}`).toBeGreaterThanOrEqual(0.95);
  });

  test("every dropped document has a true near duplicate or an exact twin in its cluster", () => {
    const partner = new Set<number>();
    for (const [i, j] of truth) partner.add(i).add(j);
    const d = result.domains[0];
    for (let k = 0; k < d.dropped.length; k++) {
      const g = d.dropped[k];
      expect(partner.has(g) || d.reason[k] === 1, `document ${g}`).toBe(true);
      expect(d.repId[k]).toBeLessThan(g); // the kept document is the first of the cluster
    }
  });
});
