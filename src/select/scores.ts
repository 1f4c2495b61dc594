/**
 * A domain's scores, one per document id (its sources' documents concatenated, as the domain
 * reader numbers them): from the sidecars in `select.scores`, or from a numeric metadata field of
 * the documents themselves (FineWeb-Edu's `score`, DCLM's fastText probability, a user's Ask-LLM
 * score). Reading the field is one pass over the domain's documents at open.
 *
 * A missing field, a non-numeric value or NaN is a bad score: under `on_error: fail` a DataError
 * naming the file, the row and the field; under `skip` the score is NaN and the selection counts
 * the document as `bad_score`. Documents that cannot be read at all are the same under `skip`
 * (they could not be served either) and the usual bad-document error under `fail`.
 */
import { badDocumentError, placeOf, readDocuments, type DocumentSource } from "../sources/types.js";
import { DataError } from "../util/errors.js";
import { readSidecar, sidecarPath } from "./sidecar.js";

/** Documents read per request while collecting a metadata field: a Parquet row group's worth or so. */
const READ_BLOCK = 1024;

export interface ScoreSpec {
  readonly domain: string;
  /** The metadata field, or the name sidecar scores are attached under. */
  readonly field: string;
  /** The sidecar folder (resolved), when scores come from `mixload score`. */
  readonly sidecars?: string;
  readonly onError: "fail" | "skip";
}

export interface DomainScores {
  readonly values: Float64Array;
  /** True when they came from sidecars: then the reader attaches them to documents as metadata `field`. */
  readonly fromSidecar: boolean;
}

function badScore(source: DocumentSource, index: number, field: string, missing: boolean, detail: string): DataError {
  const place = placeOf(source, index);
  const at = place.unit === "line" ? place.at : (`row ${place.at}` as const);
  return new DataError(missing ? "missing_field" : "bad_metadata", place.file, at, `score field "${field}" ${detail}`);
}

export async function collectScores(sources: readonly DocumentSource[], spec: ScoreSpec): Promise<DomainScores> {
  const total = sources.reduce((n, s) => n + s.numDocuments, 0);
  const values = new Float64Array(total);
  let start = 0;
  if (spec.sidecars !== undefined) {
    sources.forEach((source, i) => {
      const file = sidecarPath(spec.sidecars!, spec.domain, i);
      const { header, scores } = readSidecar(file, source);
      if (header.field !== spec.field)
        throw new DataError("bad_format", file, undefined, `holds "${header.field}" scores (${header.method}), select.score asks for "${spec.field}"`);
      if (spec.onError === "fail") {
        const bad = scores.findIndex((s) => Number.isNaN(s));
        if (bad >= 0) throw new DataError("bad_metadata", file, `row ${bad}`, `score "${spec.field}" is NaN (document ${bad} of ${source.description})`);
      }
      values.set(scores, start);
      start += source.numDocuments;
    });
    return { values, fromSidecar: true };
  }
  for (const source of sources) {
    for (let from = 0; from < source.numDocuments; from += READ_BLOCK) {
      const indices = Array.from({ length: Math.min(READ_BLOCK, source.numDocuments - from) }, (_, k) => from + k);
      const docs = await readDocuments(source, indices);
      for (let k = 0; k < docs.length; k++) {
        const doc = docs[k];
        const at = start + indices[k];
        if (doc.kind === "bad") {
          if (spec.onError === "fail") throw badDocumentError(doc);
          values[at] = NaN;
          continue;
        }
        const v = doc.metadata?.[spec.field];
        const missing = v === undefined || v === null;
        const problem = missing
          ? "has no value (list it in the source's metadata, or give select.scores)"
          : typeof v !== "number"
            ? `is a ${typeof v}, not a number`
            : Number.isNaN(v)
              ? "is NaN"
              : undefined;
        if (problem !== undefined && spec.onError === "fail") throw badScore(source, indices[k], spec.field, missing, problem);
        values[at] = problem === undefined ? (v as number) : NaN;
      }
    }
    start += source.numDocuments;
  }
  return { values, fromSidecar: false };
}
