/**
 * Small file helpers shared by the sources: open with a clear error, scan a file
 * in fixed-size chunks (never the whole file in memory), positioned sync reads,
 * a growable Float64Array for per-document offsets, and UTF-8 checking.
 */
import * as fs from "node:fs";
import { promisify } from "node:util";
import { DataError } from "../util/errors.js";

const readAsync = promisify(fs.read);

/** Scan chunk size: large enough that syscall overhead vanishes, small enough to never matter for memory. */
export const CHUNK_BYTES = 4 << 20;

export interface OpenFile {
  readonly fd: number;
  readonly size: number;
}

/** Open `file` for reading; any failure (missing, permissions, a directory) becomes `DataError("unreadable_file")`. */
export function openForRead(file: string, shownAs: string = file): OpenFile {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, "r");
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new Error("not a regular file");
    return { fd, size: st.size };
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    throw new DataError("unreadable_file", shownAs, undefined, (e as Error).message);
  }
}

/**
 * Call `onChunk(bytes, filePos)` for consecutive chunks of the file. `bytes` is a view
 * into a reused buffer, valid only during the call. Reads are async so opening a large
 * source does not block the event loop.
 */
export async function scanChunks(fd: number, onChunk: (bytes: Buffer, filePos: number) => void, chunkBytes: number = CHUNK_BYTES): Promise<void> {
  // Slow = never from the shared pool, so byteOffset is 0 and typed views over it are aligned.
  const buf = Buffer.allocUnsafeSlow(chunkBytes);
  let pos = 0;
  for (;;) {
    const { bytesRead } = await readAsync(fd, buf, 0, chunkBytes, pos);
    if (bytesRead === 0) return;
    onChunk(buf.subarray(0, bytesRead), pos);
    pos += bytesRead;
  }
}

/** Read exactly `length` bytes at `position` into `into` (or a fresh array). Throws if the file is shorter. */
export function readExact(fd: number, position: number, length: number, into?: Uint8Array): Uint8Array {
  const out = into ?? new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, out, done, length - done, position + done);
    if (n === 0) throw new Error(`file ended at byte ${position + done}, expected ${length - done} more bytes`);
    done += n;
  }
  return out;
}

/** An append-only Float64Array that doubles when full. Float64 holds byte offsets exactly up to 2^53. */
export class GrowableF64 {
  private data = new Float64Array(1024);
  length = 0;

  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }

  setLast(v: number): void {
    this.data[this.length - 1] = v;
  }

  /** The filled part, trimmed to a right-sized copy so the slack is freed. */
  finish(): Float64Array {
    return this.data.slice(0, this.length);
  }
}

const fatalDecoder = new TextDecoder("utf-8", { fatal: true });

/** Decode UTF-8 strictly; returns undefined if the bytes are not valid UTF-8. A leading BOM is dropped. */
export function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return fatalDecoder.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * Byte offset of the first byte that makes `bytes` invalid UTF-8 (or -1 if valid).
 * Only called after the fast decoder has already failed, to say where.
 */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    let need: number;
    let min: number;
    if (b < 0x80) {
      i++;
      continue;
    } else if (b >= 0xc2 && b <= 0xdf) [need, min] = [1, 0x80];
    else if (b >= 0xe0 && b <= 0xef) [need, min] = [2, 0x800];
    else if (b >= 0xf0 && b <= 0xf4) [need, min] = [3, 0x10000];
    else return i;
    let cp = b & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are invalid too.
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

/** Count of `\n` bytes in bytes[0, end): turns a byte offset into a line offset. */
export function countNewlines(bytes: Uint8Array, end: number): number {
  let n = 0;
  for (let i = 0; i < end; i++) if (bytes[i] === 0x0a) n++;
  return n;
}

/** Space, tab, CR, vertical tab, form feed: what makes a line "blank". */
export function isSpaceByte(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0d || b === 0x0b || b === 0x0c;
}

/** What a local file is, for `identity`: its size and mtime (ms), so an edited file reads as changed. */
export function statIdentity(st: fs.Stats): string {
  return `size=${st.size};mtime=${Math.floor(st.mtimeMs)}`;
}
