/**
 * What files a multi-file source reads: `path` is one file, a folder (every file under it with
 * one of the format's extensions, at any depth: the Hugging Face layouts `data/train-00000-of-00004.parquet`
 * and `<config>/train/*.parquet`), a glob (`data/train-*.parquet`, `**` for any depth), or an
 * `http(s)://` URL of one file. Files are sorted by path so document ids never depend on the
 * file system.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { globFiles } from "./glob.js";
import { isUrl } from "./byte-source.js";
import { DataError } from "../util/errors.js";

const GLOB_CHARS = /[*?[]/;

export function resolveFiles(spec: string, baseDir: string, extensions: readonly string[]): string[] {
  if (isUrl(spec)) return [spec];
  const resolved = path.resolve(baseDir, spec);
  if (GLOB_CHARS.test(spec)) {
    // The directory part before the first segment with a glob character is where to search.
    const segments = resolved.split(path.sep);
    const first = segments.findIndex((s) => GLOB_CHARS.test(s));
    const dir = segments.slice(0, first).join(path.sep) || path.sep;
    const glob = segments.slice(first).join("/");
    if (!fs.existsSync(dir)) throw new DataError("unreadable_file", resolved, undefined, `folder ${dir} does not exist`);
    const files = globFiles(dir, glob);
    if (files.length === 0) throw new DataError("unreadable_file", resolved, undefined, "the glob matches no files");
    return files;
  }
  let st: fs.Stats;
  try {
    st = fs.statSync(resolved);
  } catch (e) {
    throw new DataError("unreadable_file", resolved, undefined, (e as Error).message);
  }
  if (!st.isDirectory()) return [resolved];
  const files = globFiles(resolved, "**/*").filter((f) => extensions.some((ext) => f.endsWith(ext)));
  if (files.length === 0) throw new DataError("unreadable_file", resolved, undefined, `the folder holds no ${extensions.join(" or ")} files`);
  return files;
}
