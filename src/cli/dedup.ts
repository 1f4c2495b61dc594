/**
 * `mixload dedup --config C [--out DIR] [--json]`: deduplicate every domain of a config (exact
 * and MinHash-LSH near duplicates, src/select/dedup), write the sidecar the loader reads, and
 * print per domain what is dropped and the cross-domain matrix: how many documents of domain A
 * (rows) duplicate a kept document of domain B (columns), exact / near.
 *
 * The sidecar goes to DIR/dedup.bin with --out, else to the config's `dedup.sidecar`, else into
 * the cache where the loader looks for it. A config without a `dedup` block is deduplicated with
 * the defaults.
 */
import fs from "node:fs";
import path from "node:path";
import { loadConfig } from "../config/load.js";
import { closeDomainSources, openDomainSources } from "../sources/index.js";
import { cachedSidecar, computeDedup, configuredSidecar, defaultDedupConfig, sidecarKey, writeSidecar, type DedupResult } from "../select/dedup/index.js";
import { cacheDirOf } from "../sources/decompress-cache.js";

export interface DedupCommandOptions {
  config: string;
  out?: string;
  json?: boolean;
}

export interface DedupReport {
  sidecar: string;
  params: DedupResult["params"];
  documents: number;
  seconds: number;
  documents_per_s: number;
  bytes_per_document: number;
  /** Documents whose dedup state fits in 1 GB (2^30 bytes). */
  documents_per_gb: number;
  candidates: number;
  verified: number;
  confirmed: number;
  domains: { name: string; documents: number; kept: number; exact: number; near: number; skipped: Record<string, number> }[];
  /** Rows: the domain a dropped document is in; columns: the domain of the document kept in its place. */
  matrix: { domains: string[]; exact: number[][]; near: number[][] };
}

export async function dedup(options: DedupCommandOptions): Promise<DedupReport> {
  const loaded = loadConfig(options.config);
  const { config, baseDir } = loaded;
  const settings = config.dedup ?? defaultDedupConfig();
  const cacheDir = cacheDirOf(config);
  const sources = await openDomainSources(config.domains, { baseDir, cacheDir });
  try {
    const result = await computeDedup(config, settings, sources);
    const key = sidecarKey(config, settings, sources);
    const file = options.out !== undefined ? path.resolve(options.out, "dedup.bin") : (configuredSidecar(loaded) ?? cachedSidecar(key, cacheDir));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    writeSidecar(file, key, result);
    const s = result.stats;
    return {
      sidecar: file,
      params: result.params,
      documents: s.documents,
      seconds: s.seconds,
      documents_per_s: s.documents / Math.max(s.seconds, 1e-9),
      bytes_per_document: s.bytes_per_document,
      documents_per_gb: Math.floor(2 ** 30 / s.bytes_per_document),
      candidates: s.candidates,
      verified: s.verified,
      confirmed: s.confirmed,
      domains: result.domains.map((d) => ({
        name: d.name,
        documents: d.documents,
        kept: d.documents - d.dropped.length - Object.values(d.skipped).reduce((a, b) => a + b, 0),
        exact: d.exact,
        near: d.near,
        skipped: { ...d.skipped },
      })),
      matrix: { domains: result.domains.map((d) => d.name), exact: result.matrix.exact, near: result.matrix.near },
    };
  } finally {
    closeDomainSources(sources);
  }
}

const n = (x: number) => Math.round(x).toLocaleString("en-US");

export function formatDedup(r: DedupReport): string {
  const width = Math.max(8, ...r.domains.map((d) => d.name.length)) + 2;
  const cols = ["documents", "kept", "exact", "near", "skipped"];
  const lines = [`${"domain".padEnd(width)}${cols.map((c) => c.padStart(11)).join("")}`];
  for (const d of r.domains) {
    const skipped = Object.values(d.skipped).reduce((a, b) => a + b, 0);
    lines.push(`${d.name.padEnd(width)}${[d.documents, d.kept, d.exact, d.near, skipped].map((x) => n(x).padStart(11)).join("")}`);
  }
  lines.push("", "duplicates (exact/near): rows = domain of the dropped document, columns = domain of the document kept in its place");
  const cell = Math.max(11, ...r.matrix.domains.map((d) => d.length + 2));
  lines.push(`${"".padEnd(width)}${r.matrix.domains.map((d) => d.padStart(cell)).join("")}`);
  r.matrix.domains.forEach((name, a) => {
    lines.push(`${name.padEnd(width)}${r.matrix.domains.map((_, b) => `${n(r.matrix.exact[a][b])}/${n(r.matrix.near[a][b])}`.padStart(cell)).join("")}`);
  });
  const near = r.params.near;
  lines.push(
    "",
    `${n(r.documents)} documents in ${r.seconds.toFixed(1)} s (${n(r.documents_per_s)} documents/s); ${n(r.candidates)} LSH candidate pairs, ${n(r.verified)} verified, ${n(r.confirmed)} confirmed`,
    near === false
      ? `exact only; ${r.bytes_per_document} bytes per document (${n(r.documents_per_gb)} documents per GB)`
      : `near: Jaccard ≥ ${near.threshold} on ${near.ngram}-gram shingles, ${near.num_perm} permutations in ${near.bands} bands × ${near.num_perm / near.bands} rows, verified by ${near.verify === "exact" ? "exact Jaccard" : "the signature estimate"}; ${r.bytes_per_document} bytes per document (${n(r.documents_per_gb)} documents per GB)`,
    `sidecar: ${r.sidecar}`,
  );
  return lines.join("\n");
}

export async function dedupCommand(options: DedupCommandOptions): Promise<void> {
  const report = await dedup(options);
  process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatDedup(report)}\n`);
}
