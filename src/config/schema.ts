/**
 * The run configuration: one typed object, validated at the edge (OLMo-core style).
 * Every field has a default where a sensible one exists; every error names its field path.
 */
import os from "node:os";
import { z } from "zod";
import { sourceSpecSchema } from "../sources/index.js";
import { selectSchema } from "../select/policy.js";
import { dedupSchema } from "../select/dedup/params.js";
import { DEFAULT_BLOCK_CACHE_BYTES } from "../sources/block-cache.js";
import { DEFAULT_SPILL_BYTES } from "../sources/block-tiers.js";

const positiveInt = z.number().int().positive();

export const tokenizerSchema = z
  .object({
    /** Path to an HF tokenizer.json. */
    path: z.string().min(1),
    /** Path to tokenizer_config.json (eos/pad tokens come from it unless given here). */
    config: z.string().min(1).optional(),
    eos: z.string().min(1).optional(),
    pad: z.string().min(1).optional(),
    /** Tokenizer worker threads; 0 tokenizes in the main thread. Default: one per core. */
    workers: z.number().int().min(0).max(256).default(Math.max(1, os.availableParallelism())),
  })
  .strict();

export const packingSchema = z
  .object({
    /** best_fit: Ding et al. 2024 best-fit packing; concat: concatenate and cut; pad: one document per row. */
    strategy: z.enum(["best_fit", "concat", "pad"]).default("best_fit"),
    /** Streaming buffer size (document chunks) that best-fit packs over. */
    buffer_docs: positiveInt.max(1 << 20).default(2048),
    /** A best-fit row below this fill goes back into the buffer for the next round (its chunks wait for better partners)... */
    min_fill: z.number().min(0).max(1).default(0.995),
    /** ...but never more than this many rounds, so no chunk waits forever. */
    max_hold_rounds: z.number().int().min(0).max(1000).default(8),
  })
  .strict();

export const domainSchema = z
  .object({
    name: z.string().min(1).max(128),
    sources: z.array(sourceSpecSchema).min(1),
    /** Which documents to serve, by score (select/policy.ts): thresholds, top fraction, density or tempered sampling. */
    select: selectSchema.optional(),
  })
  .strict();

export const mixerSpecSchema = z
  .object({
    name: z.string().min(1).default("uniform"),
    params: z.unknown().optional(),
  })
  .strict();

/** `mixload serve`: endpoints, feedback lag, prefetch depth and the re-ask window. */
export const serveSchema = z
  .object({
    /** ROUTER endpoint for requests (PROTOCOL.md `control`). */
    control: z.string().min(1).default("tcp://127.0.0.1:5555"),
    /** PUB endpoint of the `weights` topic. */
    weights: z.string().min(1).default("tcp://127.0.0.1:5556"),
    /** Feedback of step s sets the weights from step s + feedback_lag (≥ 1: batch s must exist before its feedback can). */
    feedback_lag: z.number().int().min(1).max(1000).default(2),
    /** Steps built ahead of the highest step fetched. */
    prefetch: z.number().int().min(0).max(1024).default(4),
    /** Steps kept for re-asks, counted back from the highest step fetched; default max(16, 2·lag + 2). */
    keep_steps: z
      .number()
      .int()
      .positive()
      .max(1 << 16)
      .optional(),
    /** Run directory (schedule.jsonl, config.json, state.bin); relative to the config file. Default runs/<run_id>. */
    run_dir: z.string().min(1).optional(),
    /** Largest request the ROUTER accepts (bytes, ZMQ_MAXMSGSIZE); a bigger one drops that peer's connection unread. */
    max_message_bytes: z
      .number()
      .int()
      .min(1024)
      .max(2 ** 31 - 1)
      .default(16 * 2 ** 20),
    /**
     * CURVE keys (files of Z85 keys, `mixload keygen`; relative to the config file). Required to
     * bind a non-loopback address unless `mixload serve --insecure`.
     */
    curve: z
      .object({
        /** The service's secret key; clients need the matching public key. */
        secret_key_file: z.string().min(1),
        /** Optional allow-list: one client public key per line; other clients are refused. */
        client_keys_file: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.keep_steps !== undefined && s.keep_steps < 2 * s.feedback_lag + 2) {
      ctx.addIssue({ code: "custom", path: ["keep_steps"], message: `must be ≥ 2·feedback_lag + 2 = ${2 * s.feedback_lag + 2}, got ${s.keep_steps}` });
    }
  })
  .transform((s) => ({ ...s, keep_steps: s.keep_steps ?? Math.max(16, 2 * s.feedback_lag + 2) }));

export const configSchema = z
  .object({
    run_id: z.string().min(1).optional(),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1)
      .default(0),
    seq_len: positiveInt
      .min(8)
      .max(1 << 20)
      .default(2048),
    /** Sequences per rank per step (PROTOCOL.md `batch_size`). */
    batch_size: positiveInt.max(1 << 16).default(8),
    world: positiveInt.max(4096).default(1),
    /**
     * Independent loader lanes the global batch is built by (loader/lane.ts): fixed for a run, each
     * with its own share of every domain. Node services build whole lanes, so this is also the
     * most node services a run can use. Must divide world × batch_size.
     */
    lanes: positiveInt.max(4096).default(1),
    tokenizer: tokenizerSchema,
    packing: packingSchema.default(() => packingSchema.parse({})),
    on_error: z.enum(["fail", "skip"]).default("fail"),
    /** repeat: a domain that runs out starts a new, reshuffled epoch; drop: it leaves the mix and the others are renormalised. */
    on_exhausted: z.enum(["repeat", "drop"]).default("repeat"),
    /** Where decompressed .jsonl.gz caches go (default: <tmp>/mixload-cache). */
    cache_dir: z.string().min(1).optional(),
    /**
     * Decoded Parquet row groups and Arrow record batches, shared by all domains (LRU): memory
     * first, then spilled as UTF-8 under `cache_dir/spill/` (sources/block-tiers.ts). Performance
     * only, never the batches: not part of the resume fingerprint.
     */
    source_cache_mb: z
      .number()
      .positive()
      .default(DEFAULT_BLOCK_CACHE_BYTES / 2 ** 20),
    source_spill_mb: z
      .number()
      .positive()
      .default(DEFAULT_SPILL_BYTES / 2 ** 20),
    domains: z.array(domainSchema).min(1).max(32767),
    mixer: mixerSpecSchema.default(() => mixerSpecSchema.parse({})),
    /** Service settings (used by `mixload serve`, docs/PROTOCOL.md). */
    serve: serveSchema.default(() => serveSchema.parse({})),
    /** Exact and near-duplicate removal across all domains (src/select/dedup/index.ts); absent: none. */
    dedup: dedupSchema.optional(),
  })
  .strict()
  .superRefine((config, ctx) => {
    if ((config.world * config.batch_size) % config.lanes !== 0)
      ctx.addIssue({
        code: "custom",
        path: ["lanes"],
        message: `must divide world × batch_size = ${config.world * config.batch_size} (each lane builds an equal share of the global rows), got ${config.lanes}`,
      });
    const seen = new Map<string, number>();
    config.domains.forEach((d, i) => {
      const first = seen.get(d.name);
      if (first !== undefined)
        ctx.addIssue({ code: "custom", path: ["domains", i, "name"], message: `duplicate domain name ${JSON.stringify(d.name)} (also domains[${first}])` });
      seen.set(d.name, i);
    });
  });

export type Config = z.infer<typeof configSchema>;
export type DomainConfig = z.infer<typeof domainSchema>;
export type MixerSpec = z.infer<typeof mixerSpecSchema>;
export type ServeConfig = z.infer<typeof serveSchema>;
