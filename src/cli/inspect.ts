/**
 * `mixload inspect --config C [--json]`: what a user runs first on new data. Opens every source
 * as a run would (same errors, same bad-file checks) and prints, per domain and source: format,
 * local or remote, files, bytes, documents, estimated tokens, the columns or fields found, the
 * metadata attached, codecs, row groups, files that cannot serve; then what the block sources'
 * shuffle windows will keep decoded, against the source cache budgets.
 */
import { openRun } from "./common.js";
import type { FileProblem, SourceInfo } from "../sources/types.js";
import type { SelectionStats } from "../select/open.js";

export interface InspectOptions {
  config: string;
  json?: boolean;
  workers?: number;
}

export interface InspectReport {
  domains: {
    name: string;
    documents: number;
    estimated_tokens: number;
    /** Row groups per shuffle window for domains shuffled by blocks (Parquet, Arrow), else null. */
    window: number | null;
    sources: { description: string; documents: number; info: SourceInfo | null; problems: FileProblem[] }[];
    /** With `select` or `dedup`: documents kept, and dropped by reason (estimated_tokens counts kept ones). */
    selection?: SelectionStats;
  }[];
  /** Decoded text the block shuffle keeps in use at once (all domains × window × mean row group), bytes. */
  block_bytes_in_use: number;
  source_cache_mb: number;
  source_spill_mb: number;
}

export async function inspect(options: InspectOptions): Promise<InspectReport> {
  const { loaded, loader } = await openRun(options.config, { workers: options.workers });
  try {
    const tokens = await loader.domainInfo();
    const described = loader.describeSources();
    const selection = loader.stats().selection;
    let inUse = 0;
    const domains = described.map((d, i) => {
      const blockBytes = d.sources.map((s) => s.info?.meanBlockTextBytes).filter((b): b is number => b !== undefined);
      const groups = d.sources.reduce((k, s) => k + (s.info?.rowGroups ?? 0), 0);
      if (d.window !== null && blockBytes.length > 0) inUse += Math.min(d.window, groups) * Math.max(...blockBytes);
      return {
        name: d.domain,
        documents: d.sources.reduce((n, s) => n + s.documents, 0),
        estimated_tokens: tokens[i].tokens,
        window: d.window,
        sources: d.sources.map((s) => ({ description: s.description, documents: s.documents, info: s.info ?? null, problems: s.problems })),
        ...(selection === undefined ? {} : { selection: selection[d.domain] }),
      };
    });
    return { domains, block_bytes_in_use: inUse, source_cache_mb: loaded.config.source_cache_mb, source_spill_mb: loaded.config.source_spill_mb };
  } finally {
    await loader.close();
  }
}

const n = (x: number) => Math.round(x).toLocaleString("en-US");
const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(bytes < 10 * 2 ** 20 ? 1 : 0)} MB`;

export function formatInspect(r: InspectReport): string {
  const lines: string[] = [];
  for (const d of r.domains) {
    lines.push(
      `${d.name}: ${n(d.documents)} documents, ~${n(d.estimated_tokens)} tokens (estimated${d.selection === undefined ? "" : ", kept documents"})${d.window === null ? "" : `, shuffled by row group, window ${d.window}`}`,
    );
    if (d.selection !== undefined) {
      const dropped = Object.entries(d.selection.dropped).filter(([, k]) => k > 0);
      lines.push(
        `  selection: ${n(d.selection.kept)} kept of ${n(d.selection.documents)}${dropped.length === 0 ? "" : `; dropped ${dropped.map(([why, k]) => `${why} ${n(k)}`).join(", ")}`}`,
      );
    }
    for (const s of d.sources) {
      const i = s.info;
      const head = [i?.format ?? "?", i?.remote ? "remote" : "local", s.description];
      lines.push(`  ${head.join("  ")}`);
      const facts = [`${n(s.documents)} documents`];
      if (i) {
        facts.push(`${i.files} file${i.files === 1 ? "" : "s"}`);
        if (i.bytes !== undefined) facts.push(mb(i.bytes));
        if (i.rowGroups !== undefined)
          facts.push(
            `${n(i.rowGroups)} row group${i.rowGroups === 1 ? "" : "s"}${i.meanBlockTextBytes === undefined ? "" : ` (~${mb(i.meanBlockTextBytes)} of text each)`}`,
          );
        if (i.codecs?.length) facts.push(`codecs ${i.codecs.join(", ")}`);
      }
      lines.push(`    ${facts.join(", ")}`);
      if (i?.columns?.length) lines.push(`    columns: ${i.columns.join(", ")}`);
      if (i?.metadata?.length) lines.push(`    metadata: ${i.metadata.join(", ")}`);
      for (const p of s.problems) lines.push(`    cannot serve ${p.file}: ${p.reason}: ${p.detail}`);
    }
  }
  if (r.block_bytes_in_use > 0) {
    const cache = r.source_cache_mb * 2 ** 20;
    const where =
      r.block_bytes_in_use <= cache
        ? "fits in memory"
        : r.block_bytes_in_use <= r.source_spill_mb * 2 ** 20
          ? "the rest is spilled to disk (cache_dir/spill)"
          : "more than the spill budget: row groups will be decoded more than once per epoch";
    lines.push(
      `block shuffle: ~${mb(r.block_bytes_in_use)} of decoded row groups in use at once (domains × window × row group); source_cache_mb ${r.source_cache_mb}, source_spill_mb ${r.source_spill_mb}: ${where}`,
    );
  }
  return lines.join("\n");
}
