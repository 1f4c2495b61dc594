/**
 * The source contract: a source is a random-access list of documents.
 *
 * Random access (rather than a stream) is what makes resume O(1): the loader's
 * position in a domain is (epoch, position), the document at that position is
 * `order(epoch)[position]`, and it can be read back directly without replaying
 * anything. Sources build whatever index they need in `open`.
 *
 * Two kinds of source:
 * - synchronous (`read`): local files answered with positioned reads (JSONL, text, Megatron, nanoGPT);
 * - asynchronous (`readMany`): sources that decode or fetch in units larger than a document
 *   (Parquet row groups, Arrow record batches, remote files over HTTP range requests). The domain
 *   reader hands them a whole block of indices at once so one decode serves many documents.
 */
import { DataError, type DataErrorReason } from "../util/errors.js";

/** Per-document metadata (Parquet columns, JSONL fields named in `metadata`): scalars only. */
export type DocumentMetadata = Readonly<Record<string, string | number | boolean | null>>;

/** A document as read from disk: text still to be tokenized, or token ids already. */
export type RawDocument =
  | { readonly kind: "text"; readonly text: string; readonly metadata?: DocumentMetadata }
  | { readonly kind: "tokens"; readonly tokens: Int32Array; readonly metadata?: DocumentMetadata };

/** A document that cannot be used, with where it is and why. Never thrown by `read`; the caller applies `on_error`. */
export interface BadDocument {
  readonly kind: "bad";
  readonly reason: DataErrorReason;
  readonly file: string;
  /** 1-based line for line-oriented formats. */
  readonly line?: number;
  /** 0-based row for row-oriented formats (Parquet, Arrow), shown as `file:row N`. */
  readonly row?: number;
  readonly detail: string;
}

export type ReadResult = RawDocument | BadDocument;

/** What `mixload inspect` shows of a source: what it found when it opened. */
export interface SourceInfo {
  /** "jsonl", "jsonl.gz", "jsonl.zst", "text", "megatron", "nanogpt", "parquet", "arrow". */
  readonly format: string;
  readonly files: number;
  readonly remote: boolean;
  /** Bytes on disk (or on the server) of all files. */
  readonly bytes?: number;
  /** Columns or top-level fields found (Parquet schema, first JSONL line's keys). */
  readonly columns?: readonly string[];
  /** The metadata columns/fields attached to each document. */
  readonly metadata?: readonly string[];
  /** Compression codecs seen (Parquet column chunks, the file's own compression). */
  readonly codecs?: readonly string[];
  readonly rowGroups?: number;
  /** Mean uncompressed bytes of the text column per row group (Parquet footer): what a decoded block weighs. */
  readonly meanBlockTextBytes?: number;
}

/** A file of a source that cannot serve any row (schema problems found at open), for `inspect`. */
export interface FileProblem {
  readonly file: string;
  readonly reason: DataErrorReason;
  readonly detail: string;
}

/** Block sources' read counters: (characters decoded) ÷ (characters served) is the I/O amplification. */
export interface BlockReadCounters {
  blocksDecoded: number;
  /** Distinct blocks among those: blocksDecoded ÷ blocksDistinct > 1 means blocks were decoded again. */
  blocksDistinct: number;
  charsDecoded: number;
  charsServed: number;
}

/**
 * Where a document sits in a source's files: what token provenance reports (serve's `provenance`
 * op, `mixload provenance`). `unit` says what `at` counts: `line`, the 1-based line of a JSONL
 * document or of a text paragraph's first line; `row`, the 0-based row of a Parquet or Arrow
 * file; `document`, the 0-based document of a file that holds several (Megatron, nanoGPT) or 0
 * for a text file read whole.
 */
export interface DocumentPlace {
  readonly file: string;
  readonly unit: PlaceUnit;
  readonly at: number;
}

export type PlaceUnit = "line" | "row" | "document";

interface SourceBase {
  /** Human-readable identity (path, glob or URL), used in stats and errors. */
  readonly description: string;
  /** Number of addressable documents (bad ones included: they are skipped when read, and counted). */
  readonly numDocuments: number;
  /**
   * Sizes of the source's natural read units (Parquet row groups, Arrow record batches), in
   * document order, summing to `numDocuments`. A domain with any blocked source is shuffled with
   * locality (sample/block-shuffle.ts) so a row group is decoded once per epoch, not per document.
   */
  readonly blocks?: readonly number[];
  /** Blocks per shuffle window this source asks for (spec `window`); the domain takes the largest. */
  readonly shuffleWindow?: number;
  /**
   * What the bytes behind the source are (sizes and mtimes, or ETags of remote files). Saved in
   * the resume state; a source whose identity changed is refused on resume.
   */
  readonly identity?: string;
  /** Block sources (Parquet, Arrow): what their reads cost. */
  readonly counters?: BlockReadCounters;
  /** For `mixload inspect`. */
  readonly info?: SourceInfo;
  /** For `mixload inspect`: files every row of which will be a bad document. */
  fileProblems?(): FileProblem[];
  /** Where document `index` is (see DocumentPlace); without it, `placeOf` says document `index` of `description`. */
  locate?(index: number): DocumentPlace;
  close(): void;
}

export interface SyncSource extends SourceBase {
  /** Read document `index` (0 ≤ index < numDocuments). Synchronous: positioned reads on open fds. */
  read(index: number): ReadResult;
}

export interface AsyncSource extends SourceBase {
  /** Read documents `indices` (each in [0, numDocuments)), results in the same order. I/O failures reject. */
  readMany(indices: readonly number[]): Promise<ReadResult[]>;
}

export type DocumentSource = SyncSource | AsyncSource;

export function isSyncSource(source: DocumentSource): source is SyncSource {
  return typeof (source as SyncSource).read === "function";
}

/** Read documents from any source: one code path for callers that do not care about the kind. */
export async function readDocuments(source: DocumentSource, indices: readonly number[]): Promise<ReadResult[]> {
  if (isSyncSource(source)) return indices.map((i) => source.read(i));
  return source.readMany(indices);
}

/** Where document `index` of `source` is: its own `locate`, else the index among the source's documents. */
export function placeOf(source: DocumentSource, index: number): DocumentPlace {
  return source.locate?.(index) ?? { file: source.description, unit: "document", at: index };
}

/** The error a bad document becomes under `on_error: fail`, naming file and line or row. */
export function badDocumentError(bad: BadDocument, suffix = ""): DataError {
  const at = bad.line ?? (bad.row === undefined ? undefined : (`row ${bad.row}` as const));
  return new DataError(bad.reason, bad.file, at, bad.detail + suffix);
}
