/**
 * Plain-text folders: the files under `dir` matching `glob`, in sorted path order,
 * as one document per file or one per paragraph (runs of lines separated by blank lines).
 *
 * Paragraph offsets are found at open with one streaming pass per file. Files are opened
 * per read rather than held open: a folder can have more files than the fd limit allows.
 */
import * as fs from "node:fs";
import type { BadDocument, DocumentPlace, RawDocument, SyncSource } from "./types.js";
import { DataError } from "../util/errors.js";
import { GrowableF64, countNewlines, decodeUtf8, firstInvalidUtf8, openForRead, readExact } from "./io.js";
import { globFiles } from "./glob.js";
import { scanLines } from "./lines.js";
import { stripBrownTags } from "./brown.js";

export type TextSplit = "file" | "paragraph";
export type TextTransform = "none" | "brown_pos";

export interface TextOptions {
  /** Pattern relative to `dir` (`*`, `?`, `[..]`, `**`). Default every file: `**\/*`. */
  readonly glob?: string;
  readonly split?: TextSplit;
  /** `brown_pos`: strip Brown-corpus part-of-speech tags (see brown.ts). */
  readonly transform?: TextTransform;
}

/** Every non-empty text of a text folder, in order, in memory (what benches and tests tokenize). */
export async function readTexts(dir: string, options: TextOptions = {}): Promise<string[]> {
  const source = await openText(dir, options);
  const texts: string[] = [];
  try {
    for (let i = 0; i < source.numDocuments; i++) {
      const doc = source.read(i);
      if (doc.kind === "text" && doc.text.length > 0) texts.push(doc.text);
    }
  } finally {
    source.close();
  }
  return texts;
}

export async function openText(dir: string, options: TextOptions = {}): Promise<SyncSource> {
  const glob = options.glob ?? "**/*";
  const description = `${dir}/${glob}`;
  let files: string[];
  try {
    files = globFiles(dir, glob);
  } catch (e) {
    throw new DataError("unreadable_file", dir, undefined, (e as Error).message);
  }
  if (files.length === 0) throw new DataError("unreadable_file", description, undefined, "the glob matches no files");
  const transform = options.transform ?? "none";
  if ((options.split ?? "file") === "file") return new TextSource(description, files, undefined, transform);

  const fileOf = new GrowableF64();
  const starts = new GrowableF64();
  const ends = new GrowableF64();
  const lines = new GrowableF64();
  for (let f = 0; f < files.length; f++) {
    const { fd } = openForRead(files[f]);
    try {
      let open = false; // inside a paragraph?
      await scanLines(fd, (start, end, line, blank) => {
        if (blank) open = false;
        else if (!open) {
          fileOf.push(f);
          starts.push(start);
          ends.push(end);
          lines.push(line);
          open = true;
        } else ends.setLast(end);
      });
    } finally {
      fs.closeSync(fd);
    }
  }
  const paragraphs = { fileOf: fileOf.finish(), starts: starts.finish(), ends: ends.finish(), lines: lines.finish() };
  return new TextSource(description, files, paragraphs, transform);
}

interface Paragraphs {
  readonly fileOf: Float64Array;
  readonly starts: Float64Array;
  readonly ends: Float64Array;
  /** 1-based line of each paragraph's first line. */
  readonly lines: Float64Array;
}

/** Files kept open at once in paragraph mode (a folder may hold more files than the fd limit). */
const OPEN_FILES = 64;

class TextSource implements SyncSource {
  readonly numDocuments: number;
  /** Recently used fds by file index, least recently used first (Map keeps insertion order). */
  private readonly fds = new Map<number, number>();

  constructor(
    readonly description: string,
    private readonly files: readonly string[],
    private readonly paragraphs: Paragraphs | undefined,
    private readonly transform: TextTransform,
  ) {
    this.numDocuments = paragraphs ? paragraphs.starts.length : files.length;
  }

  read(index: number): RawDocument | BadDocument {
    if (!(index >= 0 && index < this.numDocuments)) throw new RangeError(`document ${index} out of range`);
    const p = this.paragraphs;
    const fileIndex = p ? p.fileOf[index] : index;
    const file = this.files[fileIndex];
    const firstLine = p ? p.lines[index] : 1;
    let bytes: Uint8Array;
    try {
      bytes = p ? readExact(this.fd(fileIndex), p.starts[index], p.ends[index] - p.starts[index]) : fs.readFileSync(file);
    } catch (e) {
      return { kind: "bad", reason: "unreadable_file", file, detail: (e as Error).message };
    }
    const raw = decodeUtf8(bytes);
    if (raw === undefined) {
      const at = firstInvalidUtf8(bytes);
      const line = firstLine + countNewlines(bytes, at);
      return { kind: "bad", reason: "invalid_utf8", file, line, detail: `invalid UTF-8 at byte offset ${at} of the document` };
    }
    const text = this.transform === "brown_pos" ? untagParagraphs(raw) : raw.replace(/\r$/, "");
    if (text.trim() === "") return { kind: "bad", reason: "empty_document", file, line: firstLine, detail: "no text" };
    return { kind: "text", text };
  }

  /** A paragraph: its file and first line; a whole file: document 0 of it. */
  locate(index: number): DocumentPlace {
    const p = this.paragraphs;
    return p ? { file: this.files[p.fileOf[index]], unit: "line", at: p.lines[index] } : { file: this.files[index], unit: "document", at: 0 };
  }

  /**
   * An open fd for file `f`: paragraphs are read in shuffled order, many per file, and an
   * open+close per paragraph costs more than the read itself.
   */
  private fd(f: number): number {
    let fd = this.fds.get(f);
    if (fd !== undefined) {
      this.fds.delete(f); // re-insert as most recently used
    } else {
      if (this.fds.size >= OPEN_FILES) {
        const [oldest, oldFd] = this.fds.entries().next().value as [number, number];
        this.fds.delete(oldest);
        fs.closeSync(oldFd);
      }
      fd = fs.openSync(this.files[f], "r");
    }
    this.fds.set(f, fd);
    return fd;
  }

  close(): void {
    for (const fd of this.fds.values()) fs.closeSync(fd);
    this.fds.clear();
  }
}

/** Untag each blank-line-separated paragraph; paragraphs stay separated by one blank line. */
function untagParagraphs(text: string): string {
  return text
    .split(/\n(?:[ \t\r\f\v]*\n)+/)
    .map(stripBrownTags)
    .filter((p) => p !== "")
    .join("\n\n");
}
