/**
 * JSON Lines: one JSON object per line, the document text in a configurable field.
 *
 * `open` streams the file once and records where each non-blank line starts and ends;
 * `read(i)` fetches just that line with a positioned read and parses it. Blank lines
 * are not documents, but line numbers in errors stay the real 1-based file lines.
 */
import * as fs from "node:fs";
import type { BadDocument, RawDocument, SyncSource } from "./types.js";
import { decodeUtf8, firstInvalidUtf8, openForRead, readExact } from "./io.js";
import { LineIndexBuilder, scanLines } from "./lines.js";
import type { DataErrorReason } from "../util/errors.js";

export interface JsonlOptions {
  /** Field holding the text; a dotted path (`meta.body`) reaches into nested objects. Default `text`. */
  readonly field?: string;
  /** Name used in errors and `description` (the original `.gz` when reading a decompressed cache). */
  readonly shownAs?: string;
}

export async function openJsonl(file: string, options: JsonlOptions = {}): Promise<SyncSource> {
  const shownAs = options.shownAs ?? file;
  const { fd } = openForRead(file, shownAs);
  try {
    const index = new LineIndexBuilder();
    await scanLines(fd, index.onLine);
    const { starts, ends, lines } = index.finish();
    return new JsonlSource(fd, shownAs, starts, ends, lines, new JsonlLineParser(options));
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
  ) {
    this.numDocuments = starts.length;
  }

  read(index: number): RawDocument | BadDocument {
    const start = this.starts[index];
    const end = this.ends[index];
    if (start === undefined || end === undefined) throw new RangeError(`document ${index} out of range`);
    const line = this.lines ? this.lines[index] : index + 1;
    return this.parser.parse(readExact(this.fd, start, end - start), this.description, line);
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/**
 * One line's bytes (without the `\n`) to a document: UTF-8, JSON, the field. Its own class so the
 * remote JSONL source (jsonl-remote.ts), which fetches lines by range request, parses them the same way.
 */
export class JsonlLineParser {
  private readonly field: string;
  private readonly path: readonly string[];

  constructor(options: JsonlOptions) {
    this.field = options.field ?? "text";
    this.path = this.field.split(".");
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
    return { kind: "text", text };
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
