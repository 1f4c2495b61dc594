/**
 * The `dedup` block of a run config, validated at the edge (config/schema.ts embeds it):
 *
 *   "dedup": { "exact": true, "near": { "threshold": 0.8, "num_perm": 128, "bands": 32 }, "sidecar": "dedup/dedup.bin" }
 *
 * `near: false` turns near-duplicate removal off. The MinHash seed is the block's own
 * (`near.seed`), not the run's: changing the run seed reshuffles batches, never which documents
 * count as duplicates.
 */
import { z } from "zod";

export const nearDedupSchema = z
  .strictObject({
    /** Documents whose word-shingle Jaccard similarity is ≥ this are near duplicates. */
    threshold: z.number().gt(0).max(1).default(0.8),
    /** MinHash permutations per document (signature length): memory is 4 bytes each. */
    num_perm: z.int().min(8).max(1024).default(128),
    /** LSH bands; rows per band = num_perm / bands. A pair of similarity s becomes a candidate with probability 1 − (1 − s^rows)^bands. */
    bands: z.int().min(1).max(1024).default(32),
    /** Shingle length: words for text, token ids for pre-tokenized sources. */
    ngram: z.int().min(1).max(64).default(5),
    /** How a candidate pair is confirmed: exact Jaccard of the shingle sets (documents re-read), or the signatures' estimate. */
    verify: z.enum(["exact", "signature"]).default("exact"),
    /** Seed of the MinHash permutation family. */
    seed: z
      .int()
      .min(0)
      .max(2 ** 32 - 1)
      .default(1),
  })
  .superRefine((n, ctx) => {
    if (n.num_perm % n.bands !== 0)
      ctx.addIssue({ code: "custom", path: ["bands"], message: `must divide num_perm (${n.num_perm}) so every band has the same rows, got ${n.bands}` });
  });

export const dedupSchema = z.strictObject({
  /** Drop documents whose normalised text (or token ids) equals an earlier document's. */
  exact: z.boolean().default(true),
  near: z.union([z.literal(false), nearDedupSchema]).default(() => nearDedupSchema.parse({})),
  /** A sidecar written by `mixload dedup` (relative to the config file); without it the result is cached under cache_dir/dedup/. */
  sidecar: z.string().min(1).optional(),
});

export type NearDedupParams = z.output<typeof nearDedupSchema>;
export type DedupConfig = z.output<typeof dedupSchema>;

/** What the result depends on (the sidecar's key): everything but where the sidecar lives. */
export interface DedupParams {
  readonly exact: boolean;
  readonly near: NearDedupParams | false;
}

export function dedupParams(config: DedupConfig): DedupParams {
  return { exact: config.exact, near: config.near };
}

/** The defaults, for `mixload dedup` on a config without a `dedup` block. */
export function defaultDedupConfig(): DedupConfig {
  return dedupSchema.parse({});
}
