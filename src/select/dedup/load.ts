/**
 * The loader's entry point: the dedup result for a config's opened sources, from the configured
 * sidecar (refused if it was computed from other data), else from the cache, else computed now
 * and cached under `cache_dir/dedup/<digest of the key>.bin`.
 */
import fs from "node:fs";
import path from "node:path";
import type { LoadedConfig } from "../../config/load.js";
import type { Config } from "../../config/schema.js";
import type { DocumentSource } from "../../sources/types.js";
import { ConfigError } from "../../util/errors.js";
import { dedupCorpus, type DedupOptions } from "./dedup.js";
import { dedupParams, defaultDedupConfig, type DedupConfig } from "./params.js";
import type { DedupResult } from "./result.js";
import { keyDigest, readSidecar, SidecarMismatch, writeSidecar, type SidecarKey } from "./sidecar.js";

/** What a result is valid for: the dedup parameters and, per source, what its documents are. */
export function sidecarKey(config: Config, dedup: DedupConfig, sources: readonly (readonly DocumentSource[])[]): SidecarKey {
  return {
    params: dedupParams(dedup),
    on_error: config.on_error,
    domains: config.domains.map((d, i) => ({
      name: d.name,
      sources: sources[i].map((s, j) => {
        const { path: _path, ...spec } = d.sources[j];
        return { description: s.description, documents: s.numDocuments, identity: s.identity ?? null, spec };
      }),
    })),
  };
}

/** Compute the dedup result of a config's opened sources (always; no sidecar or cache is read). */
export function computeDedup(
  config: Config,
  dedup: DedupConfig,
  sources: readonly (readonly DocumentSource[])[],
  options: Pick<DedupOptions, "progress"> = {},
): Promise<DedupResult> {
  const domains = config.domains.map((d, i) => ({ name: d.name, sources: sources[i] }));
  return dedupCorpus(domains, dedupParams(dedup), { onError: config.on_error, progress: options.progress });
}

/** The sidecar file a config names (resolved against the config's folder), if any. */
export function configuredSidecar(loaded: LoadedConfig): string | undefined {
  const file = loaded.config.dedup?.sidecar;
  return file === undefined ? undefined : path.resolve(loaded.baseDir, file);
}

/** Where a result is cached when the config names no sidecar. */
export function cachedSidecar(key: SidecarKey, cacheDir: string): string {
  return path.join(cacheDir, "dedup", `${keyDigest(key)}.bin`);
}

/**
 * Per domain, the documents to drop (sorted ids) and counts by reason; null when the config has
 * no `dedup` block. A configured sidecar that does not match the sources is a ConfigError naming
 * the sidecar and what changed (e.g. `web.jsonl changed: size 100 → 120`).
 */
export async function loadOrComputeDedup(loaded: LoadedConfig, sources: readonly (readonly DocumentSource[])[], cacheDir: string): Promise<DedupResult | null> {
  const dedup = loaded.config.dedup;
  if (dedup === undefined) return null;
  const key = sidecarKey(loaded.config, dedup, sources);
  const configured = configuredSidecar(loaded);
  if (configured !== undefined) {
    if (!fs.existsSync(configured))
      throw new ConfigError("dedup.sidecar", `${configured} does not exist: write it with \`mixload dedup --config <this config>\``);
    try {
      return readSidecar(configured, key);
    } catch (e) {
      if (e instanceof SidecarMismatch) throw new ConfigError("dedup.sidecar", `${configured}: ${e.message}; run \`mixload dedup\` again`);
      throw e;
    }
  }
  const cached = cachedSidecar(key, cacheDir);
  if (fs.existsSync(cached)) {
    try {
      return readSidecar(cached, key);
    } catch (e) {
      if (!(e instanceof SidecarMismatch)) throw e; // a damaged cache file: compute again
    }
  }
  const result = await computeDedup(loaded.config, dedup, sources);
  fs.mkdirSync(path.dirname(cached), { recursive: true });
  writeSidecar(cached, key, result);
  return result;
}

export { defaultDedupConfig };
