/**
 * The `provenance` op's reply (docs/PROTOCOL.md "Token provenance", an extension) as data, in
 * both directions: the service and `mixload provenance` build `ProvenanceColumns`, the clients
 * decode them, and both turn them into the same `ProvenanceSegment` records — so the live answer
 * and the offline one compare field for field.
 *
 * Columns, not objects: a reply is one typed array per field (PROVENANCE_ARRAYS), one entry per
 * document segment of the rank's rows, and a table of the files the `source` column indexes.
 */
import { encodeMessage, type DecodedArray } from "./codec.js";
import { PROVENANCE_ARRAYS, PROVENANCE_UNITS, ProtocolError, type ProvenanceArrayName, type ProvenanceReplyHeader, type ProvenanceSource } from "./types.js";

/** One rank's provenance of one step: PROVENANCE_ARRAYS by name, plus the sources table. */
export type ProvenanceColumns = { step: number; rank: number; sources: ProvenanceSource[] } & {
  [K in ProvenanceArrayName]: K extends "doc" ? Uint32Array : Int32Array;
};

/** One document segment, self-contained: what `mixload provenance --json` prints, one per segment. */
export interface ProvenanceSegment {
  row: number;
  col: number;
  length: number;
  domain: string;
  file: string;
  /** What `doc` counts in `file` (a 1-based line, a 0-based row, a 0-based document). */
  unit: ProvenanceSource["unit"];
  doc: number;
  epoch: number;
  /** Token offset of the segment's first token inside the document. */
  offset: number;
  doc_length: number;
}

/** The reply frames (header + one frame per array, PROVENANCE_ARRAYS order). */
export function encodeProvenance(c: ProvenanceColumns): Buffer[] {
  const n = c.row.length;
  const header: Omit<ProvenanceReplyHeader, "arrays"> = { v: 1, ok: true, step: c.step, rank: c.rank, segments: n, sources: c.sources };
  return encodeMessage(
    header,
    PROVENANCE_ARRAYS.map((a) => ({ name: a.name, array: c[a.name], shape: [n] })),
  );
}

/** A decoded reply back to columns; a missing array or a wrong dtype is an `internal` error naming it. */
export function decodeProvenance(header: Record<string, unknown>, arrays: readonly DecodedArray[]): ProvenanceColumns {
  const bad = (what: string): ProtocolError => new ProtocolError("internal", `provenance reply: ${what}`);
  const sources = header.sources;
  if (!Array.isArray(sources)) throw bad("no `sources` list");
  for (const [i, s] of sources.entries()) {
    const e = s as Partial<ProvenanceSource> | null;
    if (typeof e?.file !== "string" || !(PROVENANCE_UNITS as readonly unknown[]).includes(e.unit)) throw bad(`sources[${i}] is not {file, unit}`);
  }
  const out: Record<string, unknown> = { step: header.step, rank: header.rank, sources };
  for (const spec of PROVENANCE_ARRAYS) {
    const a = arrays.find((x) => x.name === spec.name);
    if (a === undefined || a.dtype !== spec.dtype) throw bad(`array ${spec.name} missing or not ${spec.dtype}`);
    out[spec.name] = a.array;
  }
  return out as ProvenanceColumns;
}

/** Columns → one record per segment, domains and files by name. */
export function provenanceSegments(c: ProvenanceColumns, domains: readonly string[]): ProvenanceSegment[] {
  const out: ProvenanceSegment[] = [];
  for (let i = 0; i < c.row.length; i++) {
    const src = c.sources[c.source[i]];
    out.push({
      row: c.row[i],
      col: c.col[i],
      length: c.length[i],
      domain: domains[c.domain[i]] ?? String(c.domain[i]),
      file: src.file,
      unit: src.unit,
      doc: c.doc[i],
      epoch: c.epoch[i],
      offset: c.offset[i],
      doc_length: c.doc_length[i],
    });
  }
  return out;
}

/** The segment covering token (row, col), or -1 on padding (segments are in row, then column order). */
export function segmentAt(c: Pick<ProvenanceColumns, "row" | "col" | "length">, row: number, col: number): number {
  let lo = 0;
  let hi = c.row.length - 1;
  // Last segment starting at or before (row, col).
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (c.row[mid] < row || (c.row[mid] === row && c.col[mid] <= col)) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  if (found < 0 || c.row[found] !== row || col >= c.col[found] + c.length[found]) return -1;
  return found;
}

/** Where a segment's document is, as a person reads it: `file:line N`, `file row N`, `file document N`. */
export function placeText(s: Pick<ProvenanceSegment, "file" | "unit" | "doc">): string {
  return `${s.file} ${s.unit} ${s.doc}`;
}
