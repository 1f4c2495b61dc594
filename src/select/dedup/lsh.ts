/**
 * Locality-sensitive hashing by banding (Mining of Massive Datasets, §3.4.1): cut each
 * signature into b bands of r rows; two documents are a candidate pair when all r rows of some
 * band agree. For a pair of Jaccard similarity s that happens with probability
 *
 *     P(s) = 1 − (1 − s^r)^b                                     (MMDS eq. in §3.4.2)
 *
 * an S-curve rising around (1/b)^(1/r). The default 128 = 32 × 4 puts it at 0.42: a pair at
 * s = 0.8 is missed with probability (1 − 0.8⁴)³² ≈ 5·10⁻⁸, and the many candidates between
 * 0.4 and 0.8 are thrown out by verification (clusters.ts), cheaply.
 *
 * Buckets without a hash map: per band, documents are sorted by band hash (keyed-sort.ts);
 * equal hashes are a bucket, already in document order. A bucket's pairs are checked row by row (32-bit band
 * hashes can collide) and reported only in the first band where they agree, so each candidate
 * pair is reported once. Memory: 8 bytes per document for the band being sorted.
 */
import { fmix32 } from "../../util/hash.js";
import { KeyedDocs } from "./keyed-sort.js";

/**
 * Pairs checked per document in one bucket: all of a bucket's pairs up to this size, then each
 * member against the bucket's first and the WINDOW members before it. A bucket larger than this
 * is a template with thousands of variants; chains of neighbours still join it into one cluster,
 * and the pairs stay O(m · WINDOW) instead of m²/2 (10⁴ variants: 2.6 M checks, not 50 M).
 */
export const WINDOW = 256;

/**
 * Call `onPair(i, j)` (i < j) once for every pair among `docs` (ascending document numbers)
 * whose signatures agree on all rows of at least one band (in buckets above WINDOW members, the
 * pairs described there).
 */
export function lshCandidates(sigs: Uint32Array, numPerm: number, bands: number, docs: Uint32Array, onPair: (i: number, j: number) => void): void {
  const r = numPerm / bands;
  const m = docs.length;
  const keyed = new KeyedDocs(m);
  for (let band = 0; band < bands; band++) {
    const off = band * r;
    for (let k = 0; k < m; k++) {
      const base = docs[k] * numPerm + off;
      let h = 0x2545f491 ^ band;
      for (let t = 0; t < r; t++) h = fmix32((h ^ sigs[base + t]) >>> 0);
      keyed.set(k, docs[k], h);
    }
    keyed.sort();
    keyed.forEachRun((start, end) => {
      for (let y = start + 1; y < end; y++) {
        const j = keyed.doc(y);
        // Every earlier member of the bucket, or in a bucket larger than the window its first member and the WINDOW before it.
        if (y - WINDOW > start) {
          const i = keyed.doc(start);
          if (firstAgreeingBand(sigs, numPerm, r, i, j, band) === band) onPair(i, j);
        }
        for (let x = Math.max(start, y - WINDOW); x < y; x++) {
          const i = keyed.doc(x);
          if (firstAgreeingBand(sigs, numPerm, r, i, j, band) === band) onPair(i, j);
        }
      }
    });
  }
}

/** The first band (≤ upTo) where documents i and j agree on every row, or −1. */
function firstAgreeingBand(sigs: Uint32Array, numPerm: number, r: number, i: number, j: number, upTo: number): number {
  const a = i * numPerm,
    b = j * numPerm;
  for (let band = 0; band <= upTo; band++) {
    let t = band * r;
    const end = t + r;
    while (t < end && sigs[a + t] === sigs[b + t]) t++;
    if (t === end) return band;
  }
  return -1;
}
