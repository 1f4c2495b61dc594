/**
 * The documents of all domains as one numbered list, read through the loader's own sources
 * (sources/index.ts `openSource`, sources/types.ts `readDocuments`), so every format the loader
 * reads can be deduplicated: JSONL (plain, .gz, .zst), text folders, Parquet, Arrow, Megatron and
 * nanoGPT (shingled over token ids), local or remote.
 *
 * Document number g = (documents of earlier domains) + id, where id is the document's index in
 * its domain's index space: the start of its source plus its index there, exactly as
 * loader/domain-reader.ts addresses documents. Numbering in domain order then id is what makes
 * "smallest number" the keep rule (union-find.ts).
 */
import { badDocumentError, readDocuments, type DocumentSource, type RawDocument } from "../../sources/types.js";
import type { DocumentSigner, SignatureStore } from "./store.js";

/** Documents read per request: enough for a Parquet row group's worth of reads to batch. */
const READ_BLOCK = 512;

export interface CorpusDomain {
  readonly name: string;
  readonly sources: readonly DocumentSource[];
}

export class Corpus {
  /** Document number of each domain's id 0, and the total at the end. */
  readonly domainStart: number[] = [];
  /** Per domain: the id of each source's first document. */
  readonly sourceStart: number[][] = [];
  readonly size: number;

  constructor(readonly domains: readonly CorpusDomain[]) {
    let g = 0;
    for (const d of domains) {
      this.domainStart.push(g);
      const starts: number[] = [];
      let id = 0;
      for (const s of d.sources) {
        starts.push(id);
        id += s.numDocuments;
      }
      this.sourceStart.push(starts);
      g += id;
    }
    this.domainStart.push(g);
    if (g > 2 ** 32 - 1) throw new RangeError(`deduplication numbers documents in 32 bits; ${g} documents are too many`);
    this.size = g;
  }

  /** The domain holding document g. */
  domainOf(g: number): number {
    let lo = 0,
      hi = this.domains.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.domainStart[mid] <= g) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /**
   * Read every document once, in number order, and sign it into `store`. Bad documents stop the
   * run under `on_error: fail` (the loader's error, naming file and line or row) and are left out
   * and counted by reason under `skip`; the loader skips them too, so they are never served.
   */
  async signAll(signer: DocumentSigner, store: SignatureStore, onError: "fail" | "skip", progress?: (done: number) => void): Promise<Record<string, number>[]> {
    const skipped: Record<string, number>[] = this.domains.map(() => ({}));
    for (let d = 0; d < this.domains.length; d++) {
      const sources = this.domains[d].sources;
      for (let s = 0; s < sources.length; s++) {
        const base = this.domainStart[d] + this.sourceStart[d][s];
        const n = sources[s].numDocuments;
        for (let start = 0; start < n; start += READ_BLOCK) {
          const indices: number[] = [];
          for (let i = start; i < Math.min(n, start + READ_BLOCK); i++) indices.push(i);
          const docs = await readDocuments(sources[s], indices);
          for (let k = 0; k < docs.length; k++) {
            const doc = docs[k];
            if (doc.kind === "bad") {
              if (onError === "fail") throw badDocumentError(doc);
              skipped[d][doc.reason] = (skipped[d][doc.reason] ?? 0) + 1;
              continue;
            }
            signer.sign(doc, store, base + indices[k]);
          }
          progress?.(base + start + indices.length);
        }
      }
    }
    return skipped;
  }

  /** Re-read documents (ascending numbers) and return what `shingles` makes of each, in order. */
  async reread<T>(docs: Uint32Array, shingles: (doc: RawDocument) => T): Promise<T[]> {
    const out: T[] = [];
    let k = 0;
    while (k < docs.length) {
      const d = this.domainOf(docs[k]);
      const s = this.sourceOf(d, docs[k] - this.domainStart[d]);
      const base = this.domainStart[d] + this.sourceStart[d][s];
      const end = base + this.domains[d].sources[s].numDocuments;
      const indices: number[] = [];
      while (k < docs.length && docs[k] < end) indices.push(docs[k++] - base);
      const read = await readDocuments(this.domains[d].sources[s], indices);
      for (const doc of read) {
        if (doc.kind === "bad") throw badDocumentError(doc, " (it was readable earlier in this deduplication: the data changed meanwhile)");
        out.push(shingles(doc));
      }
    }
    return out;
  }

  private sourceOf(d: number, id: number): number {
    const starts = this.sourceStart[d];
    let s = starts.length - 1;
    while (starts[s] > id) s--;
    return s;
  }
}
