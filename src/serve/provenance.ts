/**
 * Token provenance (docs/PROTOCOL.md "Token provenance", an extension): where every token of a
 * served batch came from — domain, source file, the document's line or row in it, epoch, and
 * the token offset inside the document.
 *
 * The loader already knows each segment as a reference (domain, epoch, position, offset,
 * length: `Loader.lastServed`), the same references its resume state is made of. This module
 * resolves them once per built step, in the builder thread, into typed columns
 * (`StepProvenance`: a few arrays per step, nothing per token) that travel with the batch and stay
 * in the service's window beside it; a `provenance` request cuts out one rank's rows
 * (`rankProvenance`). `mixload provenance` runs the same two functions on a step rebuilt offline,
 * so the live and the offline answers are one computation.
 */
import type { ItemRef } from "../pack/stream.js";
import type { DocPosition } from "../loader/domain-reader.js";
import { placeOf, type DocumentSource, type PlaceUnit } from "../sources/types.js";
import { ProtocolError, type ProvenanceRequest, type ProvenanceSource, type ProvenanceUnit } from "../protocol/types.js";
import { encodeProvenance, type ProvenanceColumns } from "../protocol/provenance.js";

// The sources' place units are the wire's: a unit added on one side only stops this line compiling.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const UNITS_MATCH: Same<PlaceUnit, ProvenanceUnit> = true;
void UNITS_MATCH;

/** What provenance needs of a loader (Loader has both). */
export interface ServedRefs {
  /** Row by row: [id, domain, epoch, position (in the domain's order), offset, length, docLength, held, piece]. */
  lastServed(): ItemRef[][];
  documentAt(domain: number, at: DocPosition): { source: DocumentSource; index: number };
}

/** A built step's provenance over all its rows: the wire columns with `row` global, and where each row's segments start. */
export interface StepProvenance extends Omit<ProvenanceColumns, "step" | "rank"> {
  /** [rows + 1]: row r's segments are rowStarts[r]..rowStarts[r+1]−1. */
  readonly rowStarts: Int32Array;
}

// ItemRef fields (pack/stream.ts toRef).
const DOMAIN = 1;
const EPOCH = 2;
const POSITION = 3;
const OFFSET = 4;
const LENGTH = 5;
const DOC_LENGTH = 6;

/** Resolve the loader's last built step into columns. Per segment: one lookup in the domain's order and one in its source's file index. */
export function stepProvenance(loader: ServedRefs): StepProvenance {
  const rows = loader.lastServed();
  const rowStarts = new Int32Array(rows.length + 1);
  for (let r = 0; r < rows.length; r++) rowStarts[r + 1] = rowStarts[r] + rows[r].length;
  const n = rowStarts[rows.length];
  // One buffer for the nine columns (one allocation, one transfer), 4 bytes per entry each.
  const buffer = new ArrayBuffer(9 * 4 * n);
  const column = (k: number): Int32Array => new Int32Array(buffer, k * 4 * n, n);
  const p: StepProvenance = {
    rowStarts,
    sources: [],
    row: column(0),
    col: column(1),
    length: column(2),
    domain: column(3),
    source: column(4),
    doc: new Uint32Array(buffer, 5 * 4 * n, n),
    epoch: column(6),
    offset: column(7),
    doc_length: column(8),
  };
  const fileIndex = new Map<string, number>();
  let i = 0;
  for (let r = 0; r < rows.length; r++) {
    let col = 0;
    for (const ref of rows[r]) {
      const { source, index } = loader.documentAt(ref[DOMAIN], { epoch: ref[EPOCH], position: ref[POSITION] });
      const place = placeOf(source, index);
      let f = fileIndex.get(place.file);
      if (f === undefined) {
        f = p.sources.length;
        fileIndex.set(place.file, f);
        p.sources.push({ file: place.file, unit: place.unit });
      }
      p.row[i] = r;
      p.col[i] = col;
      p.length[i] = ref[LENGTH];
      p.domain[i] = ref[DOMAIN];
      p.source[i] = f;
      p.doc[i] = place.at;
      p.epoch[i] = ref[EPOCH];
      p.offset[i] = ref[OFFSET];
      p.doc_length[i] = ref[DOC_LENGTH];
      col += ref[LENGTH];
      i++;
    }
  }
  return p;
}

/** The buffers to transfer when a StepProvenance crosses threads. */
export function provenanceBuffers(p: StepProvenance): ArrayBuffer[] {
  return [...new Set([p.rowStarts, p.row, p.col, p.length, p.domain, p.source, p.doc, p.epoch, p.offset, p.doc_length].map((a) => a.buffer as ArrayBuffer))];
}

/**
 * Rank `rank`'s rows of a step: rows renumbered from 0, and a sources table of only the files they
 * use. The step's rows are those of ranks `firstRank`, `firstRank` + 1, … (a node service builds
 * only its own ranks' rows), B = `rowsPerRank` each.
 */
export function rankProvenance(p: StepProvenance, step: number, rank: number, rowsPerRank: number, firstRank = 0): ProvenanceColumns {
  const first = (rank - firstRank) * rowsPerRank;
  if (first < 0 || first + rowsPerRank >= p.rowStarts.length)
    throw new RangeError(`rank ${rank}: the step holds the rows of ranks ${firstRank}..${firstRank + (p.rowStarts.length - 1) / rowsPerRank - 1}`);
  const a = p.rowStarts[first];
  const b = p.rowStarts[first + rowsPerRank];
  const row = p.row.slice(a, b);
  for (let i = 0; i < row.length; i++) row[i] -= first;
  const source = new Int32Array(b - a);
  const sources: ProvenanceSource[] = [];
  const local = new Map<number, number>();
  for (let i = a; i < b; i++) {
    let s = local.get(p.source[i]);
    if (s === undefined) {
      s = sources.length;
      local.set(p.source[i], s);
      sources.push(p.sources[p.source[i]]);
    }
    source[i - a] = s;
  }
  return {
    step,
    rank,
    sources,
    row,
    col: p.col.slice(a, b),
    length: p.length.slice(a, b),
    domain: p.domain.slice(a, b),
    source,
    doc: p.doc.slice(a, b),
    epoch: p.epoch.slice(a, b),
    offset: p.offset.slice(a, b),
    doc_length: p.doc_length.slice(a, b),
  };
}

/** What the service knows of its window when a step is asked for. */
export interface ProvenanceWindow {
  rowsPerRank: number;
  /** The global rank of the step's first rows (a node service's first rank; 0 otherwise). */
  firstRank: number;
  /** Oldest step kept, and the next step to build (the window is oldest..next − 1, some of it maybe evicted). */
  oldest: number;
  next: number;
}

/**
 * The `provenance` reply for a step of the window (`kept` = that step's provenance, undefined
 * when the window does not hold it): `step_out_of_range` says whether it left the window or was
 * never built, and that `mixload provenance` rebuilds any step offline.
 */
export function provenanceReply(req: ProvenanceRequest, kept: StepProvenance | undefined, w: ProvenanceWindow): Buffer[] {
  if (kept === undefined) {
    const range = w.next > w.oldest ? `${w.oldest}..${w.next - 1}` : "none yet";
    const why = req.step >= w.next ? "has not been built yet" : "has left the window";
    throw new ProtocolError(
      "step_out_of_range",
      `provenance: step ${req.step} ${why} (kept: ${range}); \`mixload provenance --log RUN_DIR --step ${req.step}\` rebuilds any logged step offline`,
      "step",
    );
  }
  return encodeProvenance(rankProvenance(kept, req.step, req.rank, w.rowsPerRank, w.firstRank));
}
