/**
 * Source specs as they appear in a config, and the factory that opens them.
 * The config module embeds `sourceSpecSchema`; the loader calls `openSource`.
 */
import * as path from "node:path";
import { z } from "zod";
import type { DocumentSource } from "./types.js";
import { isUrl } from "./byte-source.js";
import { openRemoteSource, type RemoteOptions } from "./remote.js";
import { codecOf, defaultCacheDir, decompressToCache } from "./decompress-cache.js";
import { openJsonl } from "./jsonl.js";
import { openMegatron } from "./megatron.js";
import { openNanoGpt } from "./nanogpt.js";
import { openParquet } from "./parquet.js";
import { openArrow } from "./arrow.js";
import type { BlockTiers } from "./block-tiers.js";
import { openText } from "./text.js";

const path_ = z.string().min(1);

export const jsonlSpecSchema = z.strictObject({
  type: z.literal("jsonl"),
  /** A `.jsonl` file, or `.gz` / `.zst` (decompressed once into the cache dir). */
  path: path_,
  /** Field with the document text; dotted paths reach nested objects. */
  field: z.string().min(1).default("text"),
  /**
   * Fields attached to each document as `metadata` (dotted paths too). Values must be scalars
   * (string, number, boolean, null); a field missing from a line is null; an object or array
   * makes the line a bad document (`bad_metadata`).
   */
  metadata: z.array(z.string().min(1)).default([]),
});

export const textSpecSchema = z.strictObject({
  type: z.literal("text"),
  /** Directory to search. */
  path: path_,
  /** Files under `path` to read, e.g. `ca??` or `**\/*.txt`. */
  glob: z.string().min(1).default("**/*"),
  split: z.enum(["file", "paragraph"]).default("file"),
  transform: z.enum(["none", "brown_pos"]).default("none"),
});

export const megatronSpecSchema = z.strictObject({
  type: z.literal("megatron"),
  /** Path prefix: `<path>.bin` and `<path>.idx`. */
  path: path_,
});

export const nanogptSpecSchema = z.strictObject({
  type: z.literal("nanogpt"),
  /** Raw uint16 token file. */
  path: path_,
  eos_id: z.int().min(0).max(65535),
});

export const parquetSpecSchema = z.strictObject({
  type: z.literal("parquet"),
  /** A `.parquet` file, a folder of them (any depth: HF dataset layouts), a glob, or an http(s) URL. */
  path: path_,
  /** String column with the document text. */
  field: z.string().min(1).default("text"),
  /** Scalar columns attached to each document as `metadata` (e.g. FineWeb-Edu's `score`, `url`). */
  metadata: z.array(z.string().min(1)).default([]),
  /** Row groups per shuffle window: larger shuffles better, and needs that many decoded row groups cached per domain. */
  window: z.int().min(1).max(1024).optional(),
});

export const arrowSpecSchema = parquetSpecSchema.extend({
  type: z.literal("arrow"),
  /** An Arrow IPC `.arrow` file (stream or file format: what `datasets.save_to_disk` writes), a folder of them, a glob, or a URL. */
  path: path_,
});

export const sourceSpecSchema = z.discriminatedUnion("type", [
  parquetSpecSchema,
  arrowSpecSchema,
  jsonlSpecSchema,
  textSpecSchema,
  megatronSpecSchema,
  nanogptSpecSchema,
]);

/** A validated spec, defaults filled in. */
export type SourceSpec = z.output<typeof sourceSpecSchema>;
/** A spec as written in a config file. */
export type SourceSpecInput = z.input<typeof sourceSpecSchema>;

export interface OpenSourceOptions {
  /** Relative paths in the spec are resolved against this (the config file's directory). */
  readonly baseDir: string;
  /** Where `.jsonl.gz` / `.jsonl.zst` files are decompressed. Default `<tmpdir>/mixload-cache`. */
  readonly cacheDir?: string;
  /**
   * The tokenizer's vocabulary size: pre-tokenized sources (Megatron, nanoGPT) report a token
   * id outside [0, vocabSize) as a bad document (`token_out_of_range`). Unset: not checked.
   */
  readonly vocabSize?: number;
  /** Where Parquet/Arrow sources keep decoded blocks (sources/block-tiers.ts); default: one per source. */
  readonly blockTiers?: BlockTiers;
  /** Retries, timeouts and preloading for `http(s)://` paths (sources/remote.ts); defaults suit a real server. */
  readonly http?: RemoteOptions;
}

/**
 * Open a source. Missing or unreadable files throw `DataError("unreadable_file")`;
 * structurally broken files (bad Megatron index, odd-sized nanoGPT file) `DataError("bad_format")`.
 * Errors and bad documents name the resolved path (the `.gz` / `.zst`, never its cache file).
 */
export async function openSource(spec: SourceSpec, options: OpenSourceOptions): Promise<DocumentSource> {
  if (isUrl(spec.path) && spec.type !== "parquet" && spec.type !== "arrow") return openRemoteSource(spec, options);
  const resolved = path.resolve(options.baseDir, spec.path);
  switch (spec.type) {
    case "jsonl": {
      const codec = codecOf(spec.path);
      const jsonl = { field: spec.field, metadata: spec.metadata };
      if (codec === undefined) return openJsonl(resolved, jsonl);
      const cached = await decompressToCache(resolved, options.cacheDir ?? defaultCacheDir());
      return openJsonl(cached, { ...jsonl, shownAs: resolved, format: `jsonl.${codec}` });
    }
    case "text":
      return openText(resolved, { glob: spec.glob, split: spec.split, transform: spec.transform });
    case "megatron":
      return openMegatron(resolved, { vocabSize: options.vocabSize });
    case "parquet":
      return openParquet(spec.path, options.baseDir, {
        field: spec.field,
        metadata: spec.metadata,
        window: spec.window,
        http: options.http,
        tiers: options.blockTiers,
      });
    case "arrow":
      return openArrow(spec.path, options.baseDir, {
        field: spec.field,
        metadata: spec.metadata,
        window: spec.window,
        http: options.http,
        tiers: options.blockTiers,
      });
    case "nanogpt":
      return openNanoGpt(resolved, { eosId: spec.eos_id, vocabSize: options.vocabSize });
  }
}

/**
 * Every domain's sources, in config order (what the loader, `score`, `dedup` and the gym's
 * selection read). When one cannot be opened, those already open are closed before the error
 * goes on; otherwise the caller closes them (`closeDomainSources`).
 */
export async function openDomainSources(
  domains: readonly { readonly sources: readonly SourceSpec[] }[],
  options: OpenSourceOptions,
): Promise<DocumentSource[][]> {
  const opened: DocumentSource[][] = [];
  try {
    for (const domain of domains) {
      const list: DocumentSource[] = [];
      opened.push(list);
      for (const spec of domain.sources) list.push(await openSource(spec, options));
    }
    return opened;
  } catch (e) {
    closeDomainSources(opened);
    throw e;
  }
}

export function closeDomainSources(sources: readonly (readonly DocumentSource[])[]): void {
  for (const list of sources) for (const s of list) s.close();
}

export type { BadDocument, DocumentSource, RawDocument } from "./types.js";
export { MegatronWriter } from "./megatron.js";
export { openJsonl, openMegatron, openNanoGpt, openText };
