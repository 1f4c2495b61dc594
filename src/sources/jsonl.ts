/**
 * JSON Lines: one JSON object per line, the document text in a configurable field.
 *
 * `open` streams the file once and records where each non-blank line starts and ends;
 * `read(i)` fetches just that line with a positioned read and parses it. Blank lines
 * are not documents, but line numbers in errors stay the real 1-based file lines.
 *
 * Fields named in `metadata` ride along with each document as scalars; with none named, a
 * document is just `{kind, text}` (no per-document metadata object on the hot path).
 */
import * as fs from "node:fs";
import type { BadDocument, DocumentMetadata, DocumentPlace, RawDocument, SourceInfo, SyncSource } from "./types.js";
import { decodeUtf8, firstInvalidUtf8, openForRead, readExact, statIdentity } from "./io.js";
import { documentLine, LineIndexBuilder, scanLines } from "./lines.js";
import { isUrl } from "./byte-source.js";
import { DataError, type DataErrorReason } from "../util/errors.js";

export interface JsonlOptions {
  /** Field holding the text; a dotted path (`meta.body`) reaches into nested objects. Default `text`. */
  readonly field?: string;
  /**
   * Fields attached to each document as `metadata`, dotted paths allowed. Values must be
   * scalars; a field missing from a line is null, an object or array is `bad_metadata`.
   */
  readonly metadata?: readonly string[];
  /**
   * The original file when `file` is its decompressed cache (the `.gz` / `.zst`): named in errors
   * and `description`, and its size and mtime are the source's `identity` and `info.bytes`.
   */
  readonly shownAs?: string;
  /** `info.format`: "jsonl" (default), "jsonl.gz", "jsonl.zst". */
  readonly format?: string;
}

export async function openJsonl(file: string, options: JsonlOptions = {}): Promise<SyncSource> {
  const shownAs = options.shownAs ?? file;
  const { fd } = openForRead(file, shownAs);
  try {
    let original: fs.Stats;
    try {
      // A URL's download (jsonl-remote.ts) has no file to stat: that source sets its own identity.
      original = shownAs === file || isUrl(shownAs) ? fs.fstatSync(fd) : fs.statSync(shownAs);
    } catch (e) {
      throw new DataError("unreadable_file", shownAs, undefined, (e as Error).message);
    }
    const index = new LineIndexBuilder();
    await scanLines(fd, index.onLine);
    const { starts, ends, lines } = index.finish();
    const info: SourceInfo = {
      format: options.format ?? "jsonl",
      files: 1,
      remote: false,
      bytes: original.size,
      columns: starts.length === 0 ? undefined : lineKeys(readExact(fd, starts[0], ends[0] - starts[0])),
      metadata: options.metadata ?? [],
    };
    return new JsonlSource(fd, shownAs, starts, ends, lines, new JsonlLineParser(options), info, statIdentity(original));
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

class JsonlSource implements SyncSource {
  readonly numDocuments: number;

  constructor(
    private readonly fd: number,
    readonly description: string,
    private readonly starts: Float64Array,
    private readonly ends: Float64Array,
    private readonly lines: Float64Array | undefined,
    private readonly parser: JsonlLineParser,
    readonly info: SourceInfo,
    /** Size and mtime of the file as given (the `.gz` / `.zst`, not its cache). */
    readonly identity: string,
  ) {
    this.numDocuments = starts.length;
  }

  read(index: number): RawDocument | BadDocument {
    const start = this.starts[index];
    const end = this.ends[index];
    if (start === undefined || end === undefined) throw new RangeError(`document ${index} out of range`);
    return this.parser.parse(readExact(this.fd, start, end - start), this.description, documentLine(this.lines, index));
  }

  locate(index: number): DocumentPlace {
    return { file: this.description, unit: "line", at: documentLine(this.lines, index) };
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/** The keys of a line, for `info.columns`; undefined when it is not a JSON object. */
export function lineKeys(bytes: Uint8Array): string[] | undefined {
  const json = decodeUtf8(bytes);
  try {
    const value: unknown = json === undefined ? undefined : JSON.parse(json);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? Object.keys(value) : undefined;
  } catch {
    return undefined; // the bad line is reported when read, with its line number
  }
}

/**
 * One line's bytes (without the `\n`) to a document: UTF-8, JSON, the field. Its own class so the
 * remote JSONL source (jsonl-remote.ts), which fetches lines by range request, parses them the same way.
 */
export class JsonlLineParser {
  private readonly field: string;
  private readonly path: readonly string[];
  private readonly metadata: readonly string[];
  private readonly metadataPaths: readonly (readonly string[])[];

  constructor(options: JsonlOptions) {
    this.field = options.field ?? "text";
    this.path = this.field.split(".");
    this.metadata = options.metadata ?? [];
    this.metadataPaths = this.metadata.map((m) => m.split("."));
  }

  /** `file` and 1-based `line` are where bad documents point. */
  parse(bytes: Uint8Array, file: string, line: number): RawDocument | BadDocument {
    const bad = (reason: DataErrorReason, detail: string): BadDocument => ({ kind: "bad", reason, file, line, detail });
    const len = bytes[bytes.length - 1] === 0x0d ? bytes.length - 1 : bytes.length; // CRLF files

    const view = bytes.subarray(0, len);
    const json = decodeUtf8(view);
    if (json === undefined) return bad("invalid_utf8", `invalid UTF-8 at byte offset ${firstInvalidUtf8(view)} of the line`);

    let value: unknown;
    try {
      value = JSON.parse(json);
    } catch (e) {
      return bad("malformed_json", (e as Error).message);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      return bad("missing_field", `line is a JSON ${describe(value)}, not an object with field "${this.field}"`);
    }
    const text = pick(value as Record<string, unknown>, this.field, this.path);
    if (text === undefined) return bad("missing_field", `no field "${this.field}"`);
    if (typeof text !== "string") return bad("not_a_string", `field "${this.field}" is a ${describe(text)}, not a string`);
    if (text.trim() === "") return bad("empty_document", `field "${this.field}" is empty`);
    if (this.metadata.length === 0) return { kind: "text", text };

    const metadata: Record<string, string | number | boolean | null> = {};
    for (let k = 0; k < this.metadata.length; k++) {
      const name = this.metadata[k];
      const v = pick(value as Record<string, unknown>, name, this.metadataPaths[k]);
      if (typeof v === "object" && v !== null) {
        return bad("bad_metadata", `metadata field "${name}" is an ${describe(v)}, not a string, number, boolean or null`);
      }
      // A missing field is null, like a missing Parquet value: absence is data, not an error.
      metadata[name] = v === undefined ? null : (v as string | number | boolean);
    }
    return { kind: "text", text, metadata: metadata as DocumentMetadata };
  }
}

/** A literal key wins over a dotted path, so `{"a.b": ...}` still works with field `a.b`. */
function pick(obj: Record<string, unknown>, field: string, path: readonly string[]): unknown {
  if (Object.hasOwn(obj, field)) return obj[field];
  let cur: unknown = obj;
  for (const key of path) {
    if (typeof cur !== "object" || cur === null || !Object.hasOwn(cur, key)) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}
