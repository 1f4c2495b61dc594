/**
 * A file's bytes, local or remote, read by range. Parquet and Arrow readers (and remote
 * Megatron and JSONL) work through this, so every format reads a local path and an
 * `http(s)://` URL the same way: only the ranges they need, never the whole file.
 *
 * `identity` is what the bytes are (size and mtime locally; ETag, Last-Modified and size
 * remotely). It is saved in resume state, and a file whose identity changed is refused on resume.
 */
import * as fs from "node:fs";
import { promisify } from "node:util";
import { DataError } from "../util/errors.js";
import { statIdentity } from "./io.js";
import type { HttpOptions } from "./http.js";

const readAsync = promisify(fs.read);

export interface ByteSource {
  /** The path or URL as the user wrote it (resolved), used in errors. */
  readonly name: string;
  readonly size: number;
  readonly identity: string;
  readonly remote: boolean;
  /** Bytes [offset, offset + length). Rejects with DataError naming the file if they cannot be read. */
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): void;
}

export function isUrl(p: string): boolean {
  return /^https?:\/\//i.test(p);
}

/** A local file through one fd and positioned reads. */
export class LocalByteSource implements ByteSource {
  readonly remote = false;
  private constructor(
    readonly name: string,
    private readonly fd: number,
    readonly size: number,
    readonly identity: string,
  ) {}

  static open(file: string): LocalByteSource {
    let fd: number | undefined;
    try {
      fd = fs.openSync(file, "r");
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw new Error("not a regular file");
      return new LocalByteSource(file, fd, st.size, statIdentity(st));
    } catch (e) {
      if (fd !== undefined) fs.closeSync(fd);
      throw new DataError("unreadable_file", file, undefined, (e as Error).message);
    }
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (offset < 0 || offset + length > this.size) {
      throw new DataError("bad_format", this.name, undefined, `range ${offset}+${length} is outside the file (${this.size} bytes)`);
    }
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await readAsync(this.fd, out, done, length - done, offset + done);
      if (bytesRead === 0)
        throw new DataError(
          "unreadable_file",
          this.name,
          undefined,
          `file ended at byte ${offset + done}, expected ${length - done} more bytes (truncated while open?)`,
        );
      done += bytesRead;
    }
    return out;
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/**
 * Open a local path or an http(s) URL (HTTP range requests with retries: sources/http.ts, loaded
 * only when a URL is opened, so local-only runs never load network code).
 */
export async function openByteSource(pathOrUrl: string, http?: HttpOptions): Promise<ByteSource> {
  if (isUrl(pathOrUrl)) {
    const { HttpByteSource } = await import("./http.js");
    return HttpByteSource.open(pathOrUrl, http);
  }
  return LocalByteSource.open(pathOrUrl);
}
