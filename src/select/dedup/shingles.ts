/**
 * Shingles as 32-bit hashes in a reused Uint32Array: no string or object per word or shingle.
 *
 * Text: the k-word shingles (Broder 1997, "On the resemblance and containment of documents") of
 * the normalised text (normalize.ts). k = 5 by default, the choice of Lee et al. 2022 and
 * FineWeb: word shingles ignore how a word is spelled across lines, and five words are rare
 * enough that unrelated documents share almost none while a one-word edit changes at most five.
 * Character n-grams would make short e-mails look alike through common letter runs and cost
 * ~5× more shingles per document. Pre-tokenized documents: k-grams of token ids.
 *
 * A word hashes as FNV-1a over its UTF-16 code units then murmur3's fmix32; a shingle folds its k
 * word hashes with multiply-xor steps (order matters) and one fmix32. A document with fewer than k words (but at
 * least one) is one shingle of all its words; a document without words has no shingles and takes
 * no part in near-duplicate detection. 32-bit shingle hashes: two distinct shingles of a pair of
 * 1,000-shingle documents collide with probability ~10⁻⁴, which moves a Jaccard value by 10⁻³.
 */
import { fmix32 } from "../../util/hash.js";
import { isWordUnit } from "./normalize.js";

const SHINGLE_SEED = 0x9e3779b9;

export class Shingler {
  private words = new Uint32Array(1024);
  private out = new Uint32Array(1024);

  constructor(readonly k: number) {}

  /** Shingles of normalised text: a view valid until the next call. */
  ofText(normalized: string): Uint32Array {
    let n = 0;
    let h = 0x811c9dc5;
    let inWord = false;
    for (let i = 0; i < normalized.length; i++) {
      const c = normalized.charCodeAt(i);
      if (isWordUnit(c)) {
        h = Math.imul(h ^ c, 0x01000193);
        inWord = true;
      } else if (inWord) {
        n = this.pushWord(n, fmix32(h >>> 0));
        h = 0x811c9dc5;
        inWord = false;
      }
    }
    if (inWord) n = this.pushWord(n, fmix32(h >>> 0));
    return this.shingle(this.words, n);
  }

  /** Shingles of a pre-tokenized document (k-grams of ids): a view valid until the next call. */
  ofTokens(tokens: Int32Array): Uint32Array {
    return this.shingle(tokens, tokens.length);
  }

  private pushWord(n: number, hash: number): number {
    if (n === this.words.length) {
      const grown = new Uint32Array(n * 2);
      grown.set(this.words);
      this.words = grown;
    }
    this.words[n] = hash;
    return n + 1;
  }

  private shingle(units: Uint32Array | Int32Array, n: number): Uint32Array {
    const k = this.k;
    const count = n === 0 ? 0 : n < k ? 1 : n - k + 1;
    if (this.out.length < count) this.out = new Uint32Array(Math.max(count, this.out.length * 2));
    const out = this.out;
    const width = Math.min(k, n);
    for (let s = 0; s < count; s++) {
      // Multiply-xor over the k units (order matters: each step multiplies what came before), then one fmix32.
      let h = SHINGLE_SEED ^ width;
      for (let j = 0; j < width; j++) h = Math.imul(h ^ units[s + j], 0x9e3779b1) ^ (h >>> 15);
      out[s] = fmix32(h >>> 0);
    }
    return out.subarray(0, count);
  }
}

/** Sort `xs` in place and return the view of its distinct values. */
export function sortUniqueInPlace(xs: Uint32Array): Uint32Array {
  xs.sort();
  let n = 0;
  for (let i = 0; i < xs.length; i++) if (i === 0 || xs[i] !== xs[n - 1]) xs[n++] = xs[i];
  return xs.subarray(0, n);
}

/** The distinct values of `xs`, sorted ascending (a right-sized copy): what exact Jaccard compares. */
export function sortedUnique(xs: Uint32Array): Uint32Array {
  return sortUniqueInPlace(Uint32Array.from(xs)).slice();
}

/** |A ∩ B| / |A ∪ B| of two sorted, duplicate-free arrays (a merge); 0 when both are empty. */
export function jaccard(a: Uint32Array, b: Uint32Array): number {
  let i = 0,
    j = 0,
    inter = 0;
  while (i < a.length && j < b.length) {
    const x = a[i],
      y = b[j];
    if (x === y) {
      inter++;
      i++;
      j++;
    } else if (x < y) i++;
    else j++;
  }
  const union = a.length + b.length - inter;
  return union === 0 ? 0 : inter / union;
}
