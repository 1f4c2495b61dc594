/**
 * The loader's side of selection: every domain's kept documents when the sources open (dedup's
 * drops first, then the domain's `select` policy), their counts for stats and inspect, and the
 * digests the resume state keeps so a state never resumes over another selection (new scores,
 * a recomputed dedup sidecar: the config and the sources may be unchanged while the kept set is not).
 */
import type { LoadedConfig } from "../config/load.js";
import type { DocumentSource } from "../sources/types.js";
import { loadOrComputeDedup } from "./dedup/index.js";
import { selectDomain, type DomainSelection } from "./domain-selection.js";
import { emptyDropCounts, type DropCounts } from "./policy.js";
import { cacheDirOf } from "../sources/decompress-cache.js";

export type { DomainSelection } from "./domain-selection.js";

/** Per domain: its selection, or null when it serves every document. */
export async function openSelections(loaded: LoadedConfig, sources: readonly (readonly DocumentSource[])[]): Promise<(DomainSelection | null)[]> {
  const { config, baseDir } = loaded;
  const dedup = await loadOrComputeDedup(loaded, sources, cacheDirOf(config));
  const out: (DomainSelection | null)[] = [];
  for (const [index, domain] of config.domains.entries()) {
    out.push(
      await selectDomain({ domain, index, seed: config.seed, onError: config.on_error, baseDir, sources: sources[index], duplicates: dedup?.domains[index] }),
    );
  }
  return out;
}

export interface SelectionStats {
  documents: number;
  kept: number;
  dropped: DropCounts;
}

/** Kept and dropped per domain and reason (every domain once any has a selection), or undefined when none has. */
export function selectionStats(
  names: readonly string[],
  selections: readonly (DomainSelection | null)[],
  documents: readonly number[],
): Record<string, SelectionStats> | undefined {
  if (selections.every((s) => s === null)) return undefined;
  const out: Record<string, SelectionStats> = {};
  names.forEach((name, i) => {
    const s = selections[i];
    out[name] =
      s === null
        ? { documents: documents[i], kept: documents[i], dropped: emptyDropCounts() }
        : { documents: s.documents, kept: s.kept.length, dropped: { ...s.dropped } };
  });
  return out;
}

/** What the resume state keeps: per domain the kept-set digest (null: every document). */
export function selectionDigests(selections: readonly (DomainSelection | null)[]): (string | null)[] | undefined {
  return selections.every((s) => s === null) ? undefined : selections.map((s) => s?.digest ?? null);
}

/** One line naming the domains whose kept documents differ from the state's, or undefined. */
export function selectionMismatch(
  saved: readonly (string | null)[] | undefined,
  selections: readonly (DomainSelection | null)[],
  names: readonly string[],
): string | undefined {
  const now = selectionDigests(selections) ?? names.map(() => null);
  const was = saved ?? names.map(() => null);
  const differ = names.filter((_, i) => (was[i] ?? null) !== now[i]);
  if (differ.length === 0) return undefined;
  return `the documents selected in domain${differ.length > 1 ? "s" : ""} ${differ.map((n) => JSON.stringify(n)).join(", ")} differ from the state's (new scores, a recomputed dedup, or another version of the data); the saved positions would address other documents`;
}
