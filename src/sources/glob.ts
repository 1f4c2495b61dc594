/**
 * A small glob: `*` and `?` within one path segment, `[abc]`/`[a-z]`/`[!x]` classes,
 * and `**` for any number of directories. Node 20 has no stable `fs.glob`, and this is
 * all the text source needs. Results are sorted by path (code-unit order, not locale)
 * so document order never depends on the file system or the machine.
 */
import * as fs from "node:fs";
import * as path from "node:path";

/** Compile a glob over `/`-separated relative paths into an anchored RegExp. */
export function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === "*" && glob[i + 1] === "*") {
      // `**/` matches zero or more whole directories; a trailing `**` matches anything.
      if (glob[i + 2] === "/") {
        re += "(?:[^/]*/)*";
        i += 2;
      } else {
        re += ".*";
        i += 1;
      }
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const close = glob.indexOf("]", i + 2);
      if (close === -1) re += "\\[";
      else {
        let body = glob.slice(i + 1, close);
        if (body.startsWith("!")) body = "^" + body.slice(1);
        re += `[${body.replace(/\\/g, "\\\\")}]`;
        i = close;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/**
 * Files under `dir` whose path relative to `dir` matches `glob`, as absolute paths,
 * sorted. Dot-files and dot-directories are skipped (editor and VCS litter).
 */
export function globFiles(dir: string, glob: string): string[] {
  const re = globToRegExp(glob);
  const found: string[] = [];
  const walk = (rel: string): void => {
    const entries = fs.readdirSync(path.join(dir, rel), { withFileTypes: true });
    for (const e of entries) {
      if (e.name.startsWith(".")) continue;
      const childRel = rel === "" ? e.name : `${rel}/${e.name}`;
      const isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        // Linked files count; linked directories are not followed, so there are no cycles.
        isFile = fs.statSync(path.join(dir, childRel), { throwIfNoEntry: false })?.isFile() ?? false;
      }
      if (isDir) walk(childRel);
      else if (isFile && re.test(childRel)) found.push(childRel);
    }
  };
  walk("");
  found.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return found.map((rel) => path.join(dir, rel));
}
