/**
 * `.jsonl.gz` support.
 *
 * Sources are random access (that is what makes resume O(1)), but a gzip stream cannot
 * be seeked: reaching line n means inflating everything before it. So `open` inflates the
 * file once, streaming, into an uncompressed cache file and the JSONL source serves that
 * with positioned reads. The cache name is a hash of (absolute path, size, mtime), so an
 * edited `.gz` gets a fresh cache and an unchanged one is reused across runs and processes.
 * It is written to a temp name and renamed, so a crash or a concurrent opener never sees
 * a half-written cache. The cost is disk space equal to the uncompressed data.
 */
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { DataError } from "../util/errors.js";

export function defaultCacheDir(): string {
  return path.join(os.tmpdir(), "mixload-cache");
}

/** Path of the uncompressed copy of `gzFile`, creating it if it is not cached yet. */
export async function inflateToCache(gzFile: string, cacheDir: string = defaultCacheDir()): Promise<string> {
  const abs = path.resolve(gzFile);
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch (e) {
    throw new DataError("unreadable_file", gzFile, undefined, (e as Error).message);
  }
  const key = createHash("sha256").update(`${abs}\0${st.size}\0${st.mtimeMs}`).digest("hex");
  const cached = path.join(cacheDir, `${key}.jsonl`);
  if (fs.existsSync(cached)) return cached;

  fs.mkdirSync(cacheDir, { recursive: true });
  const tmp = `${cached}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    await pipeline(fs.createReadStream(abs), createGunzip(), fs.createWriteStream(tmp));
    fs.renameSync(tmp, cached);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    const err = e as NodeJS.ErrnoException;
    // zlib errors (bad header, truncated stream) mean bad data; anything else is I/O.
    const reason = err.code?.startsWith("Z_") ? "bad_format" : "unreadable_file";
    throw new DataError(reason, gzFile, undefined, `cannot decompress: ${err.message}`);
  }
  return cached;
}
