/**
 * Which of a domain's documents are served: its `select` policy over its scores, after dedup's
 * drops. Computed once when the loader opens (one pass over the scores), as a sorted Uint32Array
 * of kept document ids; the domain reader's epoch order then runs over those K ids
 * (position p → kept[order(p)]), so resume stays O(1) and an epoch serves every kept document once.
 */
import { createHash } from "node:crypto";
import path from "node:path";
import type { DomainConfig } from "../config/schema.js";
import type { DocumentSource } from "../sources/types.js";
import { ConfigError } from "../util/errors.js";
import { applyPlan, planSelection, type DropCounts, type DuplicateIds } from "./policy.js";
import { collectScores } from "./scores.js";

export interface DomainSelection {
  /** Documents in the domain before selection. */
  readonly documents: number;
  /** Kept document ids, ascending. */
  readonly kept: Uint32Array;
  readonly dropped: DropCounts;
  /** Scores read from sidecars, attached to each served document as metadata `field`. */
  readonly attach?: { readonly field: string; readonly scores: Float64Array };
  /** sha256 of the kept ids: the resume state records it, so a state never resumes over another selection. */
  readonly digest: string;
}

export interface SelectDomainInput {
  readonly domain: DomainConfig;
  /** The domain's index in the config (part of every keep draw). */
  readonly index: number;
  readonly seed: number;
  readonly onError: "fail" | "skip";
  /** The config file's folder (`select.scores` is relative to it). */
  readonly baseDir: string;
  readonly sources: readonly DocumentSource[];
  /** Dedup's drops for this domain, if dedup ran. */
  readonly duplicates?: DuplicateIds;
}

export function keptDigest(kept: Uint32Array): string {
  return createHash("sha256")
    .update(new Uint8Array(kept.buffer, kept.byteOffset, kept.byteLength))
    .digest("hex")
    .slice(0, 32);
}

/** A metadata field the policy reads must be one the sources attach: a config mistake, said before reading anything. */
function checkScoreField(input: SelectDomainInput): void {
  const select = input.domain.select!;
  if (select.scores !== undefined) return;
  input.domain.sources.forEach((spec, s) => {
    const listed = "metadata" in spec ? spec.metadata : [];
    if (!listed.includes(select.score))
      throw new ConfigError(
        `domains[${input.index}].select.score`,
        `"${select.score}" is not a metadata field of domains[${input.index}].sources[${s}] (${spec.type}${listed.length > 0 ? `, metadata: ${listed.join(", ")}` : ", no metadata"}); list it there, or give select.scores (a folder written by mixload score)`,
      );
  });
}

/** The domain's selection, or null when it has neither a policy nor duplicates (every document served, no copy of the ids). */
export async function selectDomain(input: SelectDomainInput): Promise<DomainSelection | null> {
  const select = input.domain.select;
  if (select === undefined && input.duplicates === undefined) return null;
  const n = input.sources.reduce((k, s) => k + s.numDocuments, 0);
  let scores: Float64Array | null = null;
  let attach: DomainSelection["attach"];
  if (select !== undefined) {
    checkScoreField(input);
    const sidecars = select.scores === undefined ? undefined : path.resolve(input.baseDir, select.scores);
    const got = await collectScores(input.sources, { domain: input.domain.name, field: select.score, sidecars, onError: input.onError });
    scores = got.values;
    if (got.fromSidecar) attach = { field: select.score, scores };
  }
  const plan = planSelection(select, input.seed, input.index, scores, input.duplicates);
  const { kept, dropped } = applyPlan(plan, n, scores, input.duplicates);
  if (kept.length === 0) {
    const why = Object.entries(dropped)
      .filter(([, k]) => k > 0)
      .map(([r, k]) => `${r} ${k}`)
      .join(", ");
    throw new ConfigError(`domains[${input.index}].select`, `keeps none of the ${n} documents of domain "${input.domain.name}" (dropped: ${why})`);
  }
  return { documents: n, kept, dropped, attach, digest: keptDigest(kept) };
}
