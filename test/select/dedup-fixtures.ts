/**
 * Real text with planted near duplicates, and a brute-force ground truth to check dedup against.
 *
 * Texts: Spam Assassin mails (headers and body; bench/tokenize-corpus.ts's `spamTexts`). Planting:
 * copies of chosen mails with random word edits — each word substituted by a word of another
 * mail, a word inserted after it, or deleted, with probability `rate` — at rates spread so the
 * copies' Jaccard similarities fall on both sides of 0.8. Everything is a pure function of the
 * seed (mulberry32).
 *
 * Ground truth: exact Jaccard of word 5-gram sets built from strings (a word = a run of the
 * characters normalize.ts counts as word characters; shingles interned to integers), so hashing,
 * MinHash, LSH and verification in src/select/dedup are all checked against an implementation
 * that shares nothing with them but the definition.
 */
import fs from "node:fs";
import { mulberry32 } from "../../src/util/hash.js";
import { normalizeText } from "../../src/select/dedup/normalize.js";
import { spamTexts } from "../../bench/tokenize-corpus.js";

export { spamTexts };

/** Edit rates of planted copies: Jaccard of 5-word shingles ≈ (1 − rate)^5 / (2 − (1 − rate)^5), about 0.97 … 0.45. */
export const PLANT_RATES = [0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.07, 0.1] as const;

/** A copy of `text` with each whitespace-separated word edited with probability `rate`. */
export function editWords(text: string, rate: number, rng: () => number, vocabulary: readonly string[]): string {
  const words = text.split(/\s+/).filter((w) => w !== "");
  const out: string[] = [];
  for (const w of words) {
    if (rng() >= rate) {
      out.push(w);
      continue;
    }
    const what = rng();
    const other = vocabulary[Math.floor(rng() * vocabulary.length)];
    if (what < 1 / 3) out.push(other);
    else if (what < 2 / 3) out.push(w, other);
    // else: deleted
  }
  return out.join(" ");
}

/** `texts` plus `copies` edited copies of randomly chosen texts (appended), with the source index of each copy. */
export function plant(texts: readonly string[], copies: number, seed: number): { texts: string[]; origin: number[] } {
  const rng = mulberry32(seed);
  const vocabulary = texts.slice(0, 200).flatMap((t) => t.split(/\s+/).slice(0, 50));
  const out = [...texts];
  const origin = texts.map(() => -1);
  for (let c = 0; c < copies; c++) {
    const i = Math.floor(rng() * texts.length);
    out.push(editWords(texts[i], PLANT_RATES[c % PLANT_RATES.length], rng, vocabulary));
    origin.push(i);
  }
  return { texts: out, origin };
}

const NOT_WORD = /[^0-9a-zA-Z\u0080-\u00a0\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u1fff\u2070-\u2fff\u3040-\uffff]+/;

/** Each text's word k-gram set as sorted interned ids (k words joined; fewer than k words: one shingle of all). */
export function stringShingleSets(texts: readonly string[], k = 5): Int32Array[] {
  const ids = new Map<string, number>();
  return texts.map((t) => {
    const words = normalizeText(t)
      .split(NOT_WORD)
      .filter((w) => w !== "");
    const set = new Set<number>();
    const add = (s: string) => {
      let id = ids.get(s);
      if (id === undefined) ids.set(s, (id = ids.size));
      set.add(id);
    };
    if (words.length > 0 && words.length < k) add(`${words.length}:${words.join(" ")}`);
    for (let i = 0; i + k <= words.length; i++) add(words.slice(i, i + k).join(" "));
    return Int32Array.from(set).sort();
  });
}

export function setJaccard(a: Int32Array, b: Int32Array): number {
  let i = 0,
    j = 0,
    inter = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      inter++;
      i++;
      j++;
    } else if (a[i] < b[j]) i++;
    else j++;
  }
  const union = a.length + b.length - inter;
  return union === 0 ? 0 : inter / union;
}

/** Every pair (i < j) of non-empty sets with Jaccard ≥ threshold, by brute force (pairs whose sizes alone rule it out are skipped). */
export function truePairs(sets: readonly Int32Array[], threshold: number): [number, number, number][] {
  const order = sets.map((_, i) => i).filter((i) => sets[i].length > 0);
  order.sort((x, y) => sets[x].length - sets[y].length);
  const out: [number, number, number][] = [];
  for (let x = 0; x < order.length; x++) {
    const small = sets[order[x]].length;
    for (let y = x + 1; y < order.length && small >= threshold * sets[order[y]].length; y++) {
      const jac = setJaccard(sets[order[x]], sets[order[y]]);
      if (jac >= threshold) out.push([Math.min(order[x], order[y]), Math.max(order[x], order[y]), jac]);
    }
  }
  return out;
}

export interface Quality {
  /** Pairs with true Jaccard ≥ threshold. */
  truth: number;
  /** Of those, pairs whose two documents ended in one cluster. */
  recall: number;
  /** Confirmed near-duplicate pairs (edges), and the fraction of them with true Jaccard ≥ threshold. */
  edges: number;
  precision: number;
  /** Edges whose true Jaccard is below the threshold, with it (for messages). */
  falsePositives: [number, number, number][];
}

/**
 * Recall and precision of a dedup result over one domain against brute force: recall over the
 * true pairs (Jaccard ≥ threshold, any two documents), precision over the pairs dedup confirmed.
 */
export function quality(
  sets: readonly Int32Array[],
  truth: readonly [number, number, number][],
  result: { domains: readonly { dropped: Uint32Array; repId: Uint32Array }[]; edges?: { a: Uint32Array; b: Uint32Array } },
  threshold: number,
): Quality {
  const cluster = Int32Array.from(sets, (_, i) => i);
  const d = result.domains[0];
  for (let k = 0; k < d.dropped.length; k++) cluster[d.dropped[k]] = d.repId[k];
  const found = truth.filter(([i, j]) => cluster[i] === cluster[j]).length;
  const edges = result.edges ?? { a: new Uint32Array(0), b: new Uint32Array(0) };
  const falsePositives: [number, number, number][] = [];
  for (let k = 0; k < edges.a.length; k++) {
    const jac = setJaccard(sets[edges.a[k]], sets[edges.b[k]]);
    if (jac < threshold) falsePositives.push([edges.a[k], edges.b[k], jac]);
  }
  return {
    truth: truth.length,
    recall: truth.length === 0 ? 1 : found / truth.length,
    edges: edges.a.length,
    precision: edges.a.length === 0 ? 1 : 1 - falsePositives.length / edges.a.length,
    falsePositives,
  };
}

/** Write `texts` as a JSONL file (`{"text": …}` per line) and return its path. */
export function writeJsonl(file: string, texts: readonly string[]): string {
  fs.writeFileSync(file, texts.map((t) => `${JSON.stringify({ text: t })}\n`).join(""));
  return file;
}
