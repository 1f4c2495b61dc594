/**
 * One streaming pass over a file's lines, reporting where each line is and whether
 * it is blank, without keeping any line in memory. A line may be longer than a
 * chunk (a 50 MB JSON document), so state carries across chunk boundaries.
 */
import { isSpaceByte, scanChunks } from "./io.js";

/** `start`/`end` are byte offsets (end excludes the `\n`); `line` is 1-based. */
export type OnLine = (start: number, end: number, line: number, blank: boolean) => void;

/** `chunkBytes` only matters to tests, which use tiny chunks to exercise lines split across reads. */
export async function scanLines(fd: number, onLine: OnLine, chunkBytes?: number): Promise<void> {
  let lineStart = 0;
  let line = 1;
  let blank = true;
  let fileEnd = 0;
  await scanChunks(fd, (bytes, pos) => {
    let i = 0;
    while (i < bytes.length) {
      const nl = bytes.indexOf(0x0a, i);
      const stop = nl === -1 ? bytes.length : nl;
      // Usually the first byte of a line already decides it is not blank.
      for (let k = i; blank && k < stop; k++) if (!isSpaceByte(bytes[k])) blank = false;
      if (nl === -1) break;
      onLine(lineStart, pos + nl, line, blank);
      lineStart = pos + nl + 1;
      line++;
      blank = true;
      i = nl + 1;
    }
    fileEnd = pos + bytes.length;
  }, chunkBytes);
  // A last line without a trailing newline still counts.
  if (fileEnd > lineStart) onLine(lineStart, fileEnd, line, blank);
}
