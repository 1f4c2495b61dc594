/**
 * Sources whose `path` is an `http://` or `https://` URL. Formats that can be read by range
 * (Megatron, plain JSONL; Parquet opens URLs itself) read only what they need; compressed JSONL is
 * downloaded once into the cache dir. Text folders need a directory listing and nanoGPT files a
 * whole-file scan per open, so they are refused with a clear error rather than half supported.
 */
import type { OpenSourceOptions, SourceSpec } from "./index.js";
import type { DocumentSource } from "./types.js";
import { defaultCacheDir } from "./decompress-cache.js";
import { openRemoteJsonl } from "./jsonl-remote.js";
import { openRemoteMegatron } from "./megatron-remote.js";
import type { HttpOptions } from "./http.js";
import type { MergeOptions } from "./ranges.js";
import { DataError } from "../util/errors.js";

/** How remote files are read: HTTP retries and timeouts, what is held in memory, how ranges merge. */
export interface RemoteOptions extends HttpOptions {
  /** Files up to this size are fetched whole at open and read from memory (preload.ts). Default 128 MiB. */
  readonly preloadBytes?: number;
  readonly merge?: MergeOptions;
}

export async function openRemoteSource(spec: SourceSpec, options: OpenSourceOptions): Promise<DocumentSource> {
  switch (spec.type) {
    case "jsonl":
      return openRemoteJsonl(spec.path, {
        jsonl: { field: spec.field, metadata: spec.metadata },
        cacheDir: options.cacheDir ?? defaultCacheDir(),
        remote: options.http,
      });
    case "megatron":
      return openRemoteMegatron(spec.path, { remote: options.http, vocabSize: options.vocabSize });
    default:
      throw new DataError("unreadable_file", spec.path, undefined, `"${spec.type}" sources cannot be read over HTTP (jsonl, megatron and parquet can)`);
  }
}
