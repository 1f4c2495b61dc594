/**
 * Compressed JSONL (`.jsonl.gz`, `.json.gz`, `.jsonl.zst`, `.json.zst`), served with random access.
 *
 * Sources are random access (that is what makes resume O(1)), but neither a gzip nor a zstd
 * stream can be seeked: reaching line n means decoding everything before it. So `open` decodes
 * the file once, streaming, into an uncompressed cache file and the JSONL source serves that
 * with positioned reads. The cache name is a hash of (absolute path, size, mtime), so an
 * edited file gets a fresh cache and an unchanged one is reused across runs and processes.
 * It is written to a temp name and renamed, so a crash, a corrupt input or a concurrent opener
 * never leaves or sees a half-written cache. The cost is disk space equal to the uncompressed data.
 */
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { DataError } from "../util/errors.js";
import { decodeZstdFile, ZstdFormatError } from "./zstd.js";

export type Codec = "gz" | "zst";

/** The compression a path's extension names, if any. */
export function codecOf(file: string): Codec | undefined {
  if (file.endsWith(".gz")) return "gz";
  if (file.endsWith(".zst")) return "zst";
  return undefined;
}

export function defaultCacheDir(): string {
  return path.join(os.tmpdir(), "mixload-cache");
}

/** A config's `cache_dir`, or the default. */
export function cacheDirOf(config: { readonly cache_dir?: string }): string {
  return config.cache_dir ?? defaultCacheDir();
}

/**
 * Path of the uncompressed copy of `file` (codec from its extension), creating it if it is not
 * cached yet. Bad compressed data is `DataError("bad_format")` naming `file`; I/O trouble
 * (missing file, full cache disk) is `unreadable_file`.
 */
export async function decompressToCache(file: string, cacheDir: string = defaultCacheDir()): Promise<string> {
  const codec = codecOf(file);
  if (codec === undefined) throw new Error(`${file}: not a .gz or .zst path`);
  const abs = path.resolve(file);
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch (e) {
    throw new DataError("unreadable_file", file, undefined, (e as Error).message);
  }
  const key = createHash("sha256").update(`${abs}\0${st.size}\0${st.mtimeMs}`).digest("hex");
  const cached = path.join(cacheDir, `${key}.jsonl`);
  if (fs.existsSync(cached)) return cached;

  fs.mkdirSync(cacheDir, { recursive: true });
  const tmp = `${cached}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    await (codec === "gz" ? gunzipFile(abs, tmp) : unzstdFile(abs, tmp));
    fs.renameSync(tmp, cached);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    const err = e as NodeJS.ErrnoException;
    // Decoder errors (zlib's Z_* codes, ZstdFormatError) mean bad data; anything else is I/O.
    const reason = err instanceof ZstdFormatError || err.code?.startsWith("Z_") ? "bad_format" : "unreadable_file";
    throw new DataError(reason, file, undefined, `cannot decompress: ${err.message}`);
  }
  return cached;
}

function gunzipFile(from: string, to: string): Promise<void> {
  // Concatenated gzip members (`cat a.gz b.gz`) are read as one stream by zlib.
  return pipeline(fs.createReadStream(from), createGunzip(), fs.createWriteStream(to));
}

/** Output is gathered into blocks this large before a write (zstd blocks are ≤ 128 KiB). */
const WRITE_BYTES = 4 << 20;

async function unzstdFile(from: string, to: string): Promise<void> {
  const input = fs.openSync(from, "r");
  const output = fs.openSync(to, "w");
  try {
    const buf = Buffer.allocUnsafeSlow(WRITE_BYTES);
    let used = 0;
    const write = (bytes: Uint8Array): void => {
      for (let off = 0; off < bytes.length;) off += fs.writeSync(output, bytes, off, bytes.length - off);
    };
    const flush = (): void => {
      write(buf.subarray(0, used));
      used = 0;
    };
    // fzstd hands over one block (≤ 128 KiB) at a time: gather them so writes are few.
    // Decoding is synchronous per read; the reads between are async.
    await decodeZstdFile(input, (data) => {
      if (used + data.length > buf.length) flush();
      if (data.length > buf.length) return write(data);
      buf.set(data, used);
      used += data.length;
    });
    flush();
  } finally {
    fs.closeSync(input);
    fs.closeSync(output);
  }
}
