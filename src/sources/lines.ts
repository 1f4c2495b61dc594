/**
 * One streaming pass over a file's lines, reporting where each line is and whether
 * it is blank, without keeping any line in memory. A line may be longer than a
 * chunk (a 50 MB JSON document), so state carries across chunk boundaries.
 */
import { GrowableF64, isSpaceByte, scanChunks } from "./io.js";

/** `start`/`end` are byte offsets (end excludes the `\n`); `line` is 1-based. */
export type OnLine = (start: number, end: number, line: number, blank: boolean) => void;

/** `chunkBytes` only matters to tests, which use tiny chunks to exercise lines split across reads. */
export async function scanLines(fd: number, onLine: OnLine, chunkBytes?: number): Promise<void> {
  const scanner = new LineScanner(onLine);
  await scanChunks(fd, (bytes, pos) => scanner.push(bytes, pos), chunkBytes);
  scanner.end();
}

/** The scan fed by hand, chunk by chunk in file order: for bytes that do not come from an fd (a remote file's stream). */
export class LineScanner {
  private lineStart = 0;
  private line = 1;
  private blank = true;
  private fileEnd = 0;

  constructor(private readonly onLine: OnLine) {}

  push(bytes: Buffer, pos: number): void {
    let i = 0;
    while (i < bytes.length) {
      const nl = bytes.indexOf(0x0a, i);
      const stop = nl === -1 ? bytes.length : nl;
      // Usually the first byte of a line already decides it is not blank.
      for (let k = i; this.blank && k < stop; k++) if (!isSpaceByte(bytes[k])) this.blank = false;
      if (nl === -1) break;
      this.onLine(this.lineStart, pos + nl, this.line, this.blank);
      this.lineStart = pos + nl + 1;
      this.line++;
      this.blank = true;
      i = nl + 1;
    }
    this.fileEnd = pos + bytes.length;
  }

  /** A last line without a trailing newline still counts. */
  end(): void {
    if (this.fileEnd > this.lineStart) this.onLine(this.lineStart, this.fileEnd, this.line, this.blank);
  }
}

/** Where each non-blank line (a JSONL document) is, and its 1-based line number when blank lines shift them. */
export interface LineIndex {
  readonly starts: Float64Array;
  readonly ends: Float64Array;
  /** Absent when there is no blank line: document i is then line i + 1. */
  readonly lines?: Float64Array;
}

/** The 1-based file line of document `index` (lines = LineIndex.lines). */
export function documentLine(lines: Float64Array | undefined, index: number): number {
  return lines ? lines[index] : index + 1;
}

/** Collects a LineIndex from a scan: pass `onLine` to scanLines or a LineScanner, then `finish()`. */
export class LineIndexBuilder {
  private readonly starts = new GrowableF64();
  private readonly ends = new GrowableF64();
  // Line numbers are i + 1 until the first blank line; only then is a table needed.
  private lines: GrowableF64 | undefined;

  readonly onLine: OnLine = (start, end, line, blank) => {
    if (blank) {
      if (!this.lines) {
        this.lines = new GrowableF64();
        for (let i = 1; i <= this.starts.length; i++) this.lines.push(i);
      }
      return;
    }
    this.starts.push(start);
    this.ends.push(end);
    this.lines?.push(line);
  };

  finish(): LineIndex {
    return { starts: this.starts.finish(), ends: this.ends.finish(), lines: this.lines?.finish() };
  }
}
