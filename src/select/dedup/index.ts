/**
 * Exact and near-duplicate removal across all domains (issue 12, part 3).
 *
 * For the loader (the "select" part wires this in at open):
 *
 *   const dedup = await loadOrComputeDedup(loaded, sources, cacheDir);   // null without a `dedup` block
 *   dedup.domains[i].dropped   // Uint32Array, ascending: ids in domain i's index space
 *                              // (source start + index in the source, as DomainReader numbers them)
 *   dedup.domains[i].exact / .near / .skipped   // counts by reason
 *
 * Config: `dedup: {exact: true, near: {threshold: 0.8, num_perm: 128, bands: 32, ngram: 5,
 * verify: "exact", seed: 1} | false, sidecar?: PATH}` (params.ts). Keep rule: in each duplicate
 * cluster the first document by (domain order in the config, then id) is kept; clusters are
 * transitive (union-find) and do not depend on reading order. The result is a pure function of
 * the documents and the `dedup` parameters (not of the run seed), so it belongs in the batch
 * fingerprint through the config's `dedup` block and the sources' identities.
 *
 * The pipeline, one module each: normalize.ts (what "same text" means) → shingles.ts (word or
 * token k-grams as 32-bit hashes) → exact-hash.ts (XXH64) and minhash.ts (signatures) into
 * store.ts (typed arrays, 534 B per document at 128 permutations: ~2.0 M documents per GB) →
 * clusters.ts (exact groups, lsh.ts banding, verification, union-find.ts) → result.ts (per-domain
 * drops and the cross-domain matrix) → sidecar.ts (the file `mixload dedup` writes).
 *
 * Bounds and limits. Memory: the store is fixed per document (above); exact verification adds
 * 16 B per candidate pair that passes the signature prefilter, and the shingle sets of one chunk
 * of 65,536 such pairs at a time. Time: signing is O(shingles × num_perm); LSH is a sort per
 * band plus the pairs inside each bucket: all of them up to 256 members, then each member
 * against the bucket's first and the 256 before it (lsh.ts WINDOW), so a template with 10⁴
 * near-identical variants costs O(m · 256) checks, not m²/2. Exact duplicates collapse to one
 * entry before LSH.
 */
export { loadOrComputeDedup, computeDedup, sidecarKey, configuredSidecar, cachedSidecar } from "./load.js";
export { dedupCorpus, type DedupOptions } from "./dedup.js";
export { dedupSchema, nearDedupSchema, defaultDedupConfig, dedupParams, type DedupConfig, type DedupParams, type NearDedupParams } from "./params.js";
export type { DedupResult, DomainDedup, DedupMatrix, DedupStats } from "./result.js";
export { readSidecar, writeSidecar, SidecarMismatch, type SidecarKey } from "./sidecar.js";
export { bytesPerDocument } from "./store.js";
export { normalizeText } from "./normalize.js";
