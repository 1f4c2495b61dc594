/**
 * From rows to clusters: exact groups, LSH candidates, verification, union-find.
 *
 * 1. Exact: documents with the same 64-bit key are one cluster; every member after the first is
 *    dropped as `exact` (when `dedup.exact`; otherwise they are still joined, as near duplicates
 *    of Jaccard 1, so a large exact group costs one LSH entry, not m² candidate pairs).
 * 2. Near: the first member of each exact group with shingles goes through LSH banding (lsh.ts).
 *    A candidate pair is confirmed
 *      - `verify: "signature"`: when the signatures' estimate is ≥ threshold;
 *      - `verify: "exact"` (default): when the exact Jaccard of the two shingle sets is ≥ threshold.
 *        Pairs whose estimate is below threshold − 4σ, σ = √(t(1 − t)/P), are dropped first
 *        (a true pair at t falls there with probability < 4·10⁻⁵); the rest are checked by
 *        re-reading both documents, a chunk of pairs at a time, so only those documents' shingle
 *        sets are ever in memory.
 * 3. Confirmed pairs are unions; clusters are the connected components, and a cluster's kept
 *    document is its smallest number (union-find.ts). Components do not depend on the order the
 *    edges came in, so neither does the result.
 */
import { UnionFind } from "./union-find.js";
import { lshCandidates } from "./lsh.js";
import { estimatedJaccard } from "./minhash.js";
import { jaccard, sortedUnique } from "./shingles.js";
import { ABSENT, SHINGLED, type SignatureStore } from "./store.js";
import { GrowableF64 } from "../../sources/io.js";
import { KeyedDocs } from "./keyed-sort.js";
import type { DedupParams } from "./params.js";

export const KEPT = 0;
export const EXACT = 1;
export const NEAR = 2;

/** Re-read documents by number and return their sorted shingle sets, in the same order. */
export type ShingleReader = (docs: Uint32Array) => Promise<Uint32Array[]>;

/** The near-duplicate pairs that joined clusters (for quality checks): estimate, and exact Jaccard when verified exactly (else NaN). */
export interface Edges {
  readonly a: Uint32Array;
  readonly b: Uint32Array;
  readonly estimate: Float64Array;
  readonly exact: Float64Array;
}

export interface Clusters {
  /** Per document: the document kept for its cluster (itself when kept). */
  readonly rep: Uint32Array;
  /** Per document: KEPT, EXACT or NEAR. */
  readonly reason: Uint8Array;
  readonly edges: Edges;
  /** LSH candidate pairs, those verified (read again or estimated), and those confirmed. */
  readonly candidates: number;
  readonly verified: number;
  readonly confirmed: number;
}

const PAIR_CHUNK = 1 << 16;

class EdgeList {
  readonly a = new GrowableF64();
  readonly b = new GrowableF64();
  readonly est = new GrowableF64();
  readonly ex = new GrowableF64();
  add(a: number, b: number, est: number, ex: number): void {
    this.a.push(a);
    this.b.push(b);
    this.est.push(est);
    this.ex.push(ex);
  }
  edges(): Edges {
    return { a: Uint32Array.from(this.a.finish()), b: Uint32Array.from(this.b.finish()), estimate: this.est.finish(), exact: this.ex.finish() };
  }
}

export async function findDuplicates(store: SignatureStore, params: DedupParams, reread?: ShingleReader): Promise<Clusters> {
  const n = store.size;
  const uf = new UnionFind(n);
  const reason = new Uint8Array(n);
  const inExactGroup = exactGroups(store, uf, reason, params.exact);
  const edges = new EdgeList();
  let candidates = 0,
    verified = 0,
    confirmed = 0;

  const near = params.near;
  if (near !== false) {
    const P = store.numPerm;
    const docs = new GrowableF64();
    for (let g = 0; g < n; g++) if (store.state[g] === SHINGLED && !inExactGroup[g]) docs.push(g);
    const pending = { a: new GrowableF64(), b: new GrowableF64() };
    const floor = near.threshold - 4 * Math.sqrt((near.threshold * (1 - near.threshold)) / P);
    lshCandidates(store.sigs, P, near.bands, Uint32Array.from(docs.finish()), (i, j) => {
      candidates++;
      // Already one cluster (signature mode joins as it goes): nothing to learn from this pair.
      if (near.verify === "signature" && uf.find(i) === uf.find(j)) return;
      const est = estimatedJaccard(store.sigs, P, i, j);
      if (near.verify === "signature") {
        verified++;
        if (est >= near.threshold) {
          confirmed++;
          edges.add(i, j, est, NaN);
          uf.union(i, j);
        }
      } else if (est >= floor) {
        pending.a.push(i);
        pending.b.push(j);
      }
    });
    if (near.verify === "exact" && pending.a.length > 0) {
      if (!reread) throw new Error("exact verification needs a way to re-read documents");
      const a = Uint32Array.from(pending.a.finish()),
        b = Uint32Array.from(pending.b.finish());
      for (let start = 0; start < a.length; start += PAIR_CHUNK) {
        const end = Math.min(a.length, start + PAIR_CHUNK);
        const docsOf = uniqueSorted(a.subarray(start, end), b.subarray(start, end));
        const sets = await reread(docsOf);
        for (let k = start; k < end; k++) {
          verified++;
          const j = jaccard(sets[bsearch(docsOf, a[k])], sets[bsearch(docsOf, b[k])]);
          if (j >= near.threshold) {
            confirmed++;
            edges.add(a[k], b[k], estimatedJaccard(store.sigs, P, a[k], b[k]), j);
            uf.union(a[k], b[k]);
          }
        }
      }
    }
  }

  const rep = new Uint32Array(n);
  for (let g = 0; g < n; g++) {
    rep[g] = uf.find(g);
    if (rep[g] !== g && reason[g] === KEPT) reason[g] = NEAR;
  }
  return { rep, reason, edges: edges.edges(), candidates, verified, confirmed };
}

/**
 * Join documents with equal exact keys; mark all but the first of each group EXACT (when
 * `exact`). Returns, per document, whether it follows an earlier one of its group (such
 * documents stay out of LSH: their signature is their group's first).
 */
function exactGroups(store: SignatureStore, uf: UnionFind, reason: Uint8Array, exact: boolean): Uint8Array {
  const n = store.size;
  const follows = new Uint8Array(n);
  let m = 0;
  for (let g = 0; g < n; g++) if (store.state[g] !== ABSENT) m++;
  // By the key's high word: equal high words are adjacent and in document order.
  const keyed = new KeyedDocs(m);
  let k = 0;
  for (let g = 0; g < n; g++) if (store.state[g] !== ABSENT) keyed.set(k++, g, store.keys[2 * g]);
  keyed.sort();
  keyed.forEachRun((start, end) => {
    // A run with the same high word (almost always of one key): match low words, first member wins.
    for (let y = start + 1; y < end; y++) {
      const g = keyed.doc(y);
      for (let z = start; z < y; z++) {
        const first = keyed.doc(z);
        if (store.keys[2 * first + 1] === store.keys[2 * g + 1]) {
          uf.union(first, g);
          follows[g] = 1;
          if (exact) reason[g] = EXACT;
          break;
        }
      }
    }
  });
  return follows;
}

function uniqueSorted(a: Uint32Array, b: Uint32Array): Uint32Array {
  const all = new Uint32Array(a.length + b.length);
  all.set(a);
  all.set(b, a.length);
  return sortedUnique(all);
}

function bsearch(xs: Uint32Array, x: number): number {
  let lo = 0,
    hi = xs.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
