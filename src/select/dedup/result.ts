/**
 * The outcome per domain (what the loader drops) and the cross-domain matrix (what duplicated
 * what), built from the clusters and the corpus numbering.
 *
 * matrix.exact[A][B] counts the documents of domain A dropped as exact duplicates whose
 * cluster's kept document is in domain B; matrix.near likewise. The diagonal is duplication
 * inside a domain; since the kept document is the first by domain order, every count sits on or
 * below the diagonal (A ≥ B).
 */
import { EXACT, NEAR, type Clusters, type Edges } from "./clusters.js";
import type { Corpus } from "./corpus.js";
import type { DedupParams } from "./params.js";

export interface DomainDedup {
  readonly name: string;
  readonly documents: number;
  /** Ids (in the domain's index space) of the documents to drop, ascending. */
  readonly dropped: Uint32Array;
  /** For each dropped id, why: 1 exact, 2 near. */
  readonly reason: Uint8Array;
  /** For each dropped id, the kept document of its cluster: its domain index and id. */
  readonly repDomain: Uint32Array;
  readonly repId: Uint32Array;
  readonly exact: number;
  readonly near: number;
  /** Bad documents left out (on_error: skip), by reason. */
  readonly skipped: Readonly<Record<string, number>>;
}

export interface DedupMatrix {
  readonly exact: number[][];
  readonly near: number[][];
}

export interface DedupStats {
  readonly documents: number;
  readonly candidates: number;
  readonly verified: number;
  readonly confirmed: number;
  readonly bytes_per_document: number;
  readonly seconds: number;
}

export interface DedupResult {
  readonly params: DedupParams;
  readonly domains: readonly DomainDedup[];
  readonly matrix: DedupMatrix;
  readonly stats: DedupStats;
  /** The near-duplicate pairs that joined clusters, by document number (dedupCorpus with `edges: true`; for quality checks). */
  readonly edges?: Edges;
}

export function buildResult(params: DedupParams, corpus: Corpus, clusters: Clusters, skipped: Record<string, number>[], stats: DedupStats): DedupResult {
  const k = corpus.domains.length;
  const matrix: DedupMatrix = { exact: square(k), near: square(k) };
  const domains = corpus.domains.map((d, di) => {
    const from = corpus.domainStart[di],
      to = corpus.domainStart[di + 1];
    let count = 0;
    for (let g = from; g < to; g++) if (clusters.reason[g] !== 0) count++;
    const dropped = new Uint32Array(count),
      reason = new Uint8Array(count),
      repDomain = new Uint32Array(count),
      repId = new Uint32Array(count);
    let exact = 0,
      near = 0,
      at = 0;
    for (let g = from; g < to; g++) {
      const why = clusters.reason[g];
      if (why === 0) continue;
      const rep = clusters.rep[g];
      const rd = corpus.domainOf(rep);
      dropped[at] = g - from;
      reason[at] = why;
      repDomain[at] = rd;
      repId[at] = rep - corpus.domainStart[rd];
      at++;
      if (why === EXACT) {
        exact++;
        matrix.exact[di][rd]++;
      } else if (why === NEAR) {
        near++;
        matrix.near[di][rd]++;
      }
    }
    return { name: d.name, documents: to - from, dropped, reason, repDomain, repId, exact, near, skipped: skipped[di] };
  });
  return { params, domains, matrix, stats };
}

function square(k: number): number[][] {
  return Array.from({ length: k }, () => new Array<number>(k).fill(0));
}
