/**
 * What Parquet and Arrow sources have in common: files of rows stored in blocks (row groups,
 * record batches) that can only be decoded whole, one text column, and scalar metadata columns.
 * A format supplies `TableFile`s (its footer or message index read at open, and a decoder for
 * one block of chosen columns); this class turns them into an AsyncSource:
 *
 * - a document is a row, its id (file, row); `blocks` are the files' blocks in order, so the
 *   domain reader shuffles with locality (sample/block-shuffle.ts);
 * - `readMany` decodes each needed block once — from the process-wide BlockCache, or shared with
 *   a concurrent reader — then picks rows, columnar (no object per row);
 * - bad rows are BadDocuments `file:row N: reason` for the domain reader's `on_error`; a file whose
 *   schema cannot serve (no text column, text not a string, a missing metadata column) makes
 *   every one of its rows bad, decided once at open;
 * - counters for the I/O-amplification figure: characters decoded vs characters served.
 */
import type { AsyncSource, BadDocument, BlockReadCounters, DocumentMetadata, DocumentPlace, FileProblem, ReadResult, SourceInfo } from "./types.js";
import type { ByteSource } from "./byte-source.js";
import type { HttpOptions } from "./http.js";
import { filesIdentity } from "./identity.js";
import { resolveFiles } from "./file-list.js";
import { BlockTiers, markRead, SpillReader, type MemoryBlock, type TieredBlock } from "./block-tiers.js";
import type { DataErrorReason } from "../util/errors.js";

/** A column as the format describes it, enough to decide whether it can be text or metadata. */
export interface ColumnInfo {
  readonly name: string;
  /** Holds UTF-8 strings (or bytes to check as UTF-8). */
  readonly isString: boolean;
  readonly isNested: boolean;
  /** The format's own type name, for messages. */
  readonly type: string;
}

export interface TableFile {
  readonly bytes: ByteSource;
  readonly columns: readonly ColumnInfo[];
  /** Rows of each block, in order. */
  readonly blockRows: readonly number[];
  /** Compression codecs the file uses, for `inspect`. */
  readonly codecs: readonly string[];
  /** Uncompressed bytes of `column` in block `block`, when the format records it (Parquet does). */
  columnBytes?(block: number, column: string): number | undefined;
  /** Decode block `block`: one array per requested column, indexed by row in the block. */
  decode(block: number, columns: readonly string[]): Promise<(readonly unknown[])[]>;
}

export interface TableOptions {
  /** Column with the document text. Default `text`. */
  readonly field?: string;
  /** Scalar columns attached to each document as metadata. */
  readonly metadata?: readonly string[];
  /** Blocks per shuffle window. */
  readonly window?: number;
  /** Retries and timeouts for http(s) URLs. */
  readonly http?: HttpOptions;
  /** Where decoded blocks are kept (the loader's, shared by its domains); default: the source's own. */
  readonly tiers?: BlockTiers;
}

/** A schema problem of one file (the file is added when reported). */
type SchemaProblem = Omit<FileProblem, "file">;

const utf8 = new TextDecoder("utf-8", { fatal: true });
/** Binary metadata values are shown, not judged: invalid bytes become U+FFFD. */
const lenientUtf8 = new TextDecoder("utf-8");
let nextSourceId = 0;

/** A table format: its file extensions (for folders) and how to open one file. */
export interface TableFormat {
  readonly name: string;
  readonly extensions: readonly string[];
  openFile(pathOrUrl: string, http: HttpOptions | undefined): Promise<TableFile>;
}

/** Open every file `spec` names (file, folder, glob or URL: file-list.ts) as one TableSource. */
export async function openTable(format: TableFormat, spec: string, baseDir: string, options: TableOptions = {}): Promise<TableSource> {
  const files: TableFile[] = [];
  try {
    for (const p of resolveFiles(spec, baseDir, format.extensions)) files.push(await format.openFile(p, options.http));
  } catch (e) {
    for (const f of files) f.bytes.close();
    throw e;
  }
  return new TableSource(spec, format.name, files, options);
}
const NON_SPACE = /\S/;

export class TableSource implements AsyncSource {
  readonly numDocuments: number;
  readonly blocks: readonly number[];
  readonly identity: string;
  readonly info: SourceInfo;
  readonly shuffleWindow: number | undefined;
  readonly counters: BlockReadCounters = { blocksDecoded: 0, blocksDistinct: 0, charsDecoded: 0, charsServed: 0 };
  /** Per file, which blocks were ever decoded (for blocksDistinct). */
  private readonly decodedOnce: Uint8Array[];
  private readonly field: string;
  private readonly metadataColumns: readonly string[];
  private readonly columns: readonly string[];
  /** First document of each file, plus numDocuments at the end. */
  private readonly fileStarts: number[] = [0];
  /** Per file: first row of each block, plus the file's row count at the end. */
  private readonly blockStarts: number[][] = [];
  private readonly problems: (SchemaProblem | null)[];
  /** Prefix of this source's keys in the block tiers (ends with ":"). */
  private readonly cacheKey = `table${nextSourceId++}:`;
  private readonly tiers: BlockTiers;
  /** The tiers were made for this source alone, so closing it closes them. */
  private readonly ownsTiers: boolean;

  constructor(
    readonly description: string,
    format: string,
    private readonly files: readonly TableFile[],
    options: TableOptions,
  ) {
    this.field = options.field ?? "text";
    this.metadataColumns = options.metadata ?? [];
    this.columns = [this.field, ...this.metadataColumns.filter((m) => m !== this.field)];
    this.shuffleWindow = options.window;
    this.ownsTiers = options.tiers === undefined;
    this.tiers = options.tiers ?? new BlockTiers();
    const blocks: number[] = [];
    for (const f of files) {
      const starts = [0];
      for (const rows of f.blockRows) starts.push(starts[starts.length - 1] + rows);
      this.blockStarts.push(starts);
      this.fileStarts.push(this.fileStarts[this.fileStarts.length - 1] + starts[starts.length - 1]);
      blocks.push(...f.blockRows);
    }
    this.numDocuments = this.fileStarts[this.fileStarts.length - 1];
    this.blocks = blocks;
    this.problems = files.map((f) => schemaProblem(f.columns, this.field, this.metadataColumns));
    this.decodedOnce = files.map((f) => new Uint8Array(f.blockRows.length));
    this.identity = filesIdentity(files.map((f) => ({ name: f.bytes.name, identity: f.bytes.identity })));
    this.info = {
      format,
      files: files.length,
      remote: files.some((f) => f.bytes.remote),
      bytes: files.reduce((n, f) => n + f.bytes.size, 0),
      columns: [...new Set(files.flatMap((f) => f.columns.map((c) => c.name)))],
      metadata: this.metadataColumns,
      codecs: [...new Set(files.flatMap((f) => f.codecs))].sort(),
      rowGroups: blocks.length,
      meanBlockTextBytes: meanBlockBytes(files, this.field),
    };
  }

  /** Files whose schema cannot serve, with why (for `inspect`). */
  fileProblems(): FileProblem[] {
    return this.problems.flatMap((p, i) => (p === null ? [] : [{ file: this.files[i].bytes.name, ...p }]));
  }

  async readMany(indices: readonly number[]): Promise<ReadResult[]> {
    const located = indices.map((index) => this.locateRow(index));
    const keys = new Set<string>();
    for (const at of located) if (this.problems[at.file] === null) keys.add(`${at.file}/${at.block}`);
    // Our own references to every needed block. A spilled block the disk tier dropped while we
    // waited for another one has lost its file: ask again until all are present at once.
    const blocks = new Map<string, TieredBlock>();
    for (;;) {
      const missing = [...keys].filter((k) => {
        const b = blocks.get(k);
        return b === undefined || (b.kind === "disk" && b.disposed);
      });
      if (missing.length === 0) break;
      await Promise.all(missing.map(async (k) => blocks.set(k, await this.block(k))));
    }
    // From here on synchronous: nothing can be evicted until the rows are read.
    const spilled = new SpillReader();
    try {
      return located.map((at) => {
        const problem = this.problems[at.file];
        if (problem !== null) return this.bad(at.file, at.row, problem.reason, problem.detail);
        const block = blocks.get(`${at.file}/${at.block}`)!;
        const inBlock = at.row - this.blockStarts[at.file][at.block];
        let text: unknown;
        if (block.kind === "memory") {
          text = block.text[inBlock];
          markRead(block, inBlock);
        } else text = spilled.text(block, inBlock);
        return this.document(text, block.metadata, at.file, at.row, inBlock);
      });
    } finally {
      spilled.close();
    }
  }

  close(): void {
    if (this.ownsTiers) this.tiers.close();
    else this.tiers.drop(this.cacheKey);
    for (const f of this.files) f.bytes.close();
  }

  private document(value: unknown, metadataColumns: readonly (readonly unknown[])[], file: number, row: number, inBlock: number): ReadResult {
    let text = value;
    if (text === null || text === undefined) return this.bad(file, row, "not_a_string", `column "${this.field}" is null`);
    if (text instanceof Uint8Array) {
      try {
        text = utf8.decode(text);
      } catch {
        return this.bad(file, row, "invalid_utf8", `column "${this.field}" is not valid UTF-8`);
      }
    }
    if (typeof text !== "string") return this.bad(file, row, "not_a_string", `column "${this.field}" holds a ${typeof text}`);
    // /\S/ is trim()'s whitespace set, without copying a (possibly megabyte) string per document.
    if (!NON_SPACE.test(text)) return this.bad(file, row, "empty_document", `column "${this.field}" is empty`);
    this.counters.charsServed += text.length;
    if (this.metadataColumns.length === 0) return { kind: "text", text };
    const metadata: Record<string, string | number | boolean | null> = {};
    for (let m = 0; m < this.metadataColumns.length; m++) metadata[this.metadataColumns[m]] = scalar(metadataColumns[m][inBlock]);
    return { kind: "text", text, metadata: metadata as DocumentMetadata };
  }

  private bad(file: number, row: number, reason: DataErrorReason, detail: string): BadDocument {
    return { kind: "bad", reason, file: this.files[file].bytes.name, row, detail };
  }

  locate(index: number): DocumentPlace {
    if (!(index >= 0 && index < this.numDocuments)) throw new RangeError(`document ${index} out of range`);
    const file = lastAtOrBelow(this.fileStarts, index);
    return { file: this.files[file].bytes.name, unit: "row", at: index - this.fileStarts[file] };
  }

  /** (file, block, row in file) of document `index`: binary searches over files, then blocks. */
  private locateRow(index: number): { file: number; block: number; row: number } {
    if (!(index >= 0 && index < this.numDocuments)) throw new RangeError(`document ${index} out of range`);
    const file = lastAtOrBelow(this.fileStarts, index);
    const row = index - this.fileStarts[file];
    return { file, block: lastAtOrBelow(this.blockStarts[file], row), row };
  }

  /** Block `"file/block"` from the tiers, decoding it if neither holds it. */
  private block(key: string): Promise<TieredBlock> {
    const [file, block] = key.split("/").map(Number);
    return this.tiers.get(`${this.cacheKey}${key}`, async (): Promise<MemoryBlock> => {
      const columns = await this.files[file].decode(block, this.columns);
      const text = columns[0];
      let chars = 0;
      for (const t of text) if (typeof t === "string") chars += t.length;
      this.counters.blocksDecoded += 1;
      if (this.decodedOnce[file][block]++ === 0) this.counters.blocksDistinct += 1;
      this.counters.charsDecoded += chars;
      const metadata = this.metadataColumns.map((m) => columns[this.columns.indexOf(m)]);
      // Strings cost 1–2 bytes per UTF-16 unit (V8 keeps ASCII one byte wide); plus ~16 bytes per row and column.
      return { kind: "memory", text, metadata, read: new Uint8Array(text.length), readCount: 0, bytes: 2 * chars + 16 * text.length * this.columns.length };
    });
  }
}

/** Why every row of a file is unusable, from its schema alone (one check at open, none per row). */
function schemaProblem(columns: readonly ColumnInfo[], field: string, metadataColumns: readonly string[]): SchemaProblem | null {
  const byName = new Map(columns.map((c) => [c.name, c]));
  const names = columns.map((c) => c.name).join(", ");
  const text = byName.get(field);
  if (text === undefined) return { reason: "missing_field", detail: `no column "${field}" (columns: ${names})` };
  if (!text.isString) return { reason: "not_a_string", detail: `column "${field}" is ${text.type}, not a string` };
  for (const m of metadataColumns) {
    const col = byName.get(m);
    if (col === undefined) return { reason: "missing_field", detail: `no metadata column "${m}" (columns: ${names})` };
    if (col.isNested) return { reason: "bad_format", detail: `metadata column "${m}" is ${col.type}; only scalar columns can be metadata` };
  }
  return null;
}

function meanBlockBytes(files: readonly TableFile[], field: string): number | undefined {
  let total = 0;
  let blocks = 0;
  for (const f of files) {
    for (let b = 0; b < f.blockRows.length; b++) {
      const bytes = f.columnBytes?.(b, field);
      if (bytes === undefined) return undefined;
      total += bytes;
      blocks += 1;
    }
  }
  return blocks === 0 ? undefined : total / blocks;
}

/** The last i with sorted[i] ≤ x (sorted ascending, sorted[0] ≤ x). Equal starts (empty files or blocks) resolve to the last. */
function lastAtOrBelow(sorted: readonly number[], x: number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (sorted[mid] <= x) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Metadata values as JSON scalars: 64-bit integers arrive as bigint, timestamps as Date. */
function scalar(v: unknown): string | number | boolean | null {
  if (v === null || v === undefined) return null;
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") return v;
  if (v instanceof Date) return v.toISOString();
  if (v instanceof Uint8Array) return lenientUtf8.decode(v);
  return String(v);
}
