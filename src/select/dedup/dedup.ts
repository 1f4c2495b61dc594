/** Deduplicate a corpus: sign every document, cluster, and say per domain what to drop. */
import { Corpus, type CorpusDomain } from "./corpus.js";
import { DocumentSigner, SignatureStore, bytesPerDocument } from "./store.js";
import { findDuplicates } from "./clusters.js";
import { buildResult, type DedupResult } from "./result.js";
import type { DedupParams } from "./params.js";

export interface DedupOptions {
  readonly onError?: "fail" | "skip";
  /** Called now and then while signing with the documents done so far and the total. */
  readonly progress?: (done: number, total: number) => void;
  /** Keep the confirmed near-duplicate pairs in the result (`edges`). */
  readonly edges?: boolean;
}

export async function dedupCorpus(domains: readonly CorpusDomain[], params: DedupParams, options: DedupOptions = {}): Promise<DedupResult> {
  const started = performance.now();
  const corpus = new Corpus(domains);
  const store = new SignatureStore(corpus.size, params);
  const signer = new DocumentSigner(params);
  const skipped = await corpus.signAll(signer, store, options.onError ?? "fail", (done) => options.progress?.(done, corpus.size));
  const clusters = await findDuplicates(store, params, (docs) => corpus.reread(docs, (doc) => signer.shingleSet(doc)));
  const result = buildResult(params, corpus, clusters, skipped, {
    documents: corpus.size,
    candidates: clusters.candidates,
    verified: clusters.verified,
    confirmed: clusters.confirmed,
    bytes_per_document: bytesPerDocument(params),
    seconds: (performance.now() - started) / 1000,
  });
  return options.edges ? { ...result, edges: clusters.edges } : result;
}
