/**
 * What deduplication keeps per document, in typed arrays indexed by document number g (documents
 * numbered in keep order: domain order in the config, then document id within the domain):
 *
 *   signature   num_perm × 4 bytes (Uint32Array)   512 B at the default 128
 *   exact key   8 bytes (XXH64 as two Uint32)
 *   state       1 byte (absent / present / present with shingles)
 *   clustering  4 bytes (union-find parent) + 8 bytes (one band's sort key) + 1 byte (reason)
 *
 * 534 bytes per document at num_perm 128: 1 GB holds 2.0 million documents
 * (`bytesPerDocument`). Rows can be filled in any order (`DocumentSigner.sign` writes row g);
 * the result depends only on what is in each row.
 */
import { normalizeText } from "./normalize.js";
import { Shingler, sortUniqueInPlace, sortedUnique } from "./shingles.js";
import { ExactHasher } from "./exact-hash.js";
import { MinHasher } from "./minhash.js";
import type { DedupParams } from "./params.js";
import type { RawDocument } from "../../sources/types.js";

export const ABSENT = 0;
/** Read, with an exact key, but no shingles (no words): exact duplicates only. */
export const PRESENT = 1;
export const SHINGLED = 2;

/** Bytes one document costs while deduplicating (see the header). */
export function bytesPerDocument(params: DedupParams): number {
  const perm = params.near === false ? 0 : params.near.num_perm;
  return perm * 4 + 8 + 1 + 4 + 8 + 1;
}

export class SignatureStore {
  readonly numPerm: number;
  readonly sigs: Uint32Array;
  readonly keys: Uint32Array;
  readonly state: Uint8Array;

  constructor(
    readonly size: number,
    params: DedupParams,
  ) {
    this.numPerm = params.near === false ? 0 : params.near.num_perm;
    this.sigs = new Uint32Array(size * this.numPerm);
    this.keys = new Uint32Array(size * 2);
    this.state = new Uint8Array(size);
  }
}

/** Turns a document into its row: exact key and MinHash signature; and into its shingle set for exact verification. */
export class DocumentSigner {
  private readonly shingler: Shingler | null;
  private readonly minhash: MinHasher | null;
  private readonly hasher = new ExactHasher();

  constructor(params: DedupParams) {
    this.shingler = params.near === false ? null : new Shingler(params.near.ngram);
    this.minhash = params.near === false ? null : new MinHasher(params.near.num_perm, params.near.seed);
  }

  sign(doc: RawDocument, store: SignatureStore, g: number): void {
    let shingles: Uint32Array | null = null;
    if (doc.kind === "text") {
      const normalized = normalizeText(doc.text);
      this.hasher.text(normalized, store.keys, 2 * g);
      if (this.shingler) shingles = this.shingler.ofText(normalized);
    } else {
      this.hasher.tokens(doc.tokens, store.keys, 2 * g);
      if (this.shingler) shingles = this.shingler.ofTokens(doc.tokens);
    }
    if (shingles !== null && shingles.length > 0 && this.minhash) {
      // A repeated shingle cannot lower a minimum: signing each once saves ~14 % of the hashing on mail (the sort costs less).
      this.minhash.sign(sortUniqueInPlace(shingles), store.sigs, g * store.numPerm);
      store.state[g] = SHINGLED;
    } else {
      store.state[g] = PRESENT;
    }
  }

  /** The document's distinct shingle hashes, sorted: what exact Jaccard verification compares. */
  shingleSet(doc: RawDocument): Uint32Array {
    if (!this.shingler) return new Uint32Array(0);
    return sortedUnique(doc.kind === "text" ? this.shingler.ofText(normalizeText(doc.text)) : this.shingler.ofTokens(doc.tokens));
  }
}
