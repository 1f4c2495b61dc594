/**
 * Score sidecars: one file per source with one score per document, aligned with the source's
 * document ids, written by `mixload score` and read when a domain's `select.scores` names the
 * folder. This module is the one home of the format (writer and reader both use it).
 *
 *   bytes 0..7    "MLSCORE1"
 *   bytes 8..11   header length H (uint32 LE)
 *   12..12+H      header JSON: { source, identity, documents, field, method, params }
 *   then zero padding to a multiple of 8, then `documents` float64 LE (NaN: no score)
 *
 * The header keeps the source's identity (sources/identity.ts: sizes and mtimes, or ETags), so
 * scores computed from another version of the data are refused in one line naming the sidecar
 * and what changed, rather than silently attached to other documents. Sources without an identity
 * (text folders) are keyed by their document count.
 */
import fs from "node:fs";
import path from "node:path";
import { describeIdentityChange } from "../sources/identity.js";
import { writeFileAtomic } from "../util/atomic-file.js";
import { DataError } from "../util/errors.js";

const MAGIC = "MLSCORE1";

export interface SidecarHeader {
  /** The source's description when scored (informative; the identity is what is compared). */
  readonly source: string;
  readonly identity: string;
  readonly documents: number;
  /** What the scores are: `perplexity`, `density`, ... */
  readonly field: string;
  readonly method: string;
  readonly params?: Record<string, unknown>;
}

interface Scored {
  readonly description: string;
  readonly numDocuments: number;
  readonly identity?: string;
}

/** The identity a sidecar is keyed by. */
export function scoredIdentity(source: Scored): string {
  return source.identity ?? `documents=${source.numDocuments}`;
}

/** Where the sidecar of a domain's i-th source lives in `dir`. */
export function sidecarPath(dir: string, domain: string, sourceIndex: number): string {
  return path.join(dir, `${domain.replace(/[^A-Za-z0-9._-]/g, "_")}.${sourceIndex}.scores`);
}

export function writeSidecar(
  file: string,
  source: Scored,
  scores: Float64Array,
  meta: { field: string; method: string; params?: Record<string, unknown> },
): void {
  if (scores.length !== source.numDocuments) throw new RangeError(`${scores.length} scores for ${source.numDocuments} documents`);
  const header: SidecarHeader = { source: source.description, identity: scoredIdentity(source), documents: source.numDocuments, ...meta };
  const json = Buffer.from(JSON.stringify(header));
  const dataAt = Math.ceil((12 + json.length) / 8) * 8;
  const out = Buffer.alloc(dataAt + 8 * scores.length);
  out.write(MAGIC, 0, "latin1");
  out.writeUInt32LE(json.length, 8);
  json.copy(out, 12);
  for (let i = 0; i < scores.length; i++) out.writeDoubleLE(scores[i], dataAt + 8 * i);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeFileAtomic(file, out);
}

/**
 * The scores of `source` from its sidecar, or a DataError naming the sidecar: missing, not a
 * sidecar, truncated, or from another version of the source.
 */
export function readSidecar(file: string, source: Scored): { header: SidecarHeader; scores: Float64Array } {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new DataError(
      "unreadable_file",
      file,
      undefined,
      `no score sidecar for ${source.description} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); write it with mixload score`,
    );
  }
  if (bytes.length < 12 || bytes.toString("latin1", 0, 8) !== MAGIC) throw new DataError("bad_format", file, undefined, "not a mixload score sidecar");
  const length = bytes.readUInt32LE(8);
  let header: SidecarHeader;
  try {
    header = JSON.parse(bytes.toString("utf8", 12, 12 + length)) as SidecarHeader;
  } catch {
    throw new DataError("bad_format", file, undefined, "the sidecar's header is not JSON (truncated or corrupt)");
  }
  const change = describeIdentityChange(header.identity, scoredIdentity(source), source.description);
  if (change !== undefined || header.documents !== source.numDocuments)
    throw new DataError(
      "bad_format",
      file,
      undefined,
      `scores were computed from another version of the data (${change ?? `documents ${header.documents} → ${source.numDocuments}`}); run mixload score again`,
    );
  const dataAt = Math.ceil((12 + length) / 8) * 8;
  if (bytes.length !== dataAt + 8 * header.documents)
    throw new DataError(
      "bad_format",
      file,
      undefined,
      `expected ${header.documents} scores, the file holds ${Math.max(0, (bytes.length - dataAt) / 8)} (truncated?)`,
    );
  const scores = new Float64Array(header.documents);
  for (let i = 0; i < scores.length; i++) scores[i] = bytes.readDoubleLE(dataAt + 8 * i);
  return { header, scores };
}
