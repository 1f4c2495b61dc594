/**
 * Source identities: what the bytes behind a source are, saved in resume state and compared on
 * restore. One module writes and reads the format, so the loader can say *what* changed.
 *
 * A file's identity is `key=value` pairs joined by `;` (`size=…;mtime=…` locally,
 * `etag=…;last_modified=…;size=…` remotely: see byte-source.ts and http.ts). A source over
 * several files (Megatron's `.idx` and `.bin`) joins one `<file>\t<identity>` line per file.
 */

export interface FileIdentity {
  readonly name: string;
  readonly identity: string;
}

export function filesIdentity(files: readonly FileIdentity[]): string {
  return files.map((f) => `${f.name}\t${f.identity}`).join("\n");
}

/**
 * Undefined when `saved` and `current` are the same; otherwise one line naming the file and the
 * fields that differ, e.g. `http://h/a.bin changed: size 100 → 120, etag "x" → "y"`.
 * `fallbackName` names single-file identities (no file column): the source's description.
 */
export function describeIdentityChange(saved: string, current: string, fallbackName: string): string | undefined {
  if (saved === current) return undefined;
  const before = parseFiles(saved, fallbackName);
  const after = parseFiles(current, fallbackName);
  const parts: string[] = [];
  for (const [name, was] of before) {
    const now = after.get(name);
    if (now === undefined) {
      parts.push(`${name} is no longer part of the source`);
      continue;
    }
    // mtime is recorded (it shows in the message) but not compared: copying a dataset to another
    // machine changes every mtime and no byte; size, ETag and Last-Modified are what count.
    const fields = new Set([...was.keys(), ...now.keys()].filter((k) => k !== "mtime"));
    const diffs = [...fields].filter((k) => was.get(k) !== now.get(k)).map((k) => `${k} ${was.get(k) || "(none)"} → ${now.get(k) || "(none)"}`);
    if (diffs.length > 0) parts.push(`${name} changed: ${diffs.join(", ")}`);
  }
  for (const name of after.keys()) if (!before.has(name)) parts.push(`${name} is new in the source`);
  return parts.length > 0 ? parts.join("; ") : undefined;
}

function parseFiles(identity: string, fallbackName: string): Map<string, Map<string, string>> {
  const files = new Map<string, Map<string, string>>();
  for (const line of identity.split("\n")) {
    const tab = line.indexOf("\t");
    const name = tab === -1 ? fallbackName : line.slice(0, tab);
    const fields = new Map<string, string>();
    for (const pair of line.slice(tab + 1).split(";")) {
      const eq = pair.indexOf("=");
      if (eq !== -1) fields.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    files.set(name, fields);
  }
  return files;
}

interface Identified {
  readonly description: string;
  readonly identity?: string;
}

/**
 * Per domain, per source: the identities to save in resume state (null where a source has none).
 * Positions in a domain address documents by index, so resuming over changed bytes would silently
 * read other documents; `identityMismatch` is what refuses that.
 */
export function sourceIdentities(domains: readonly (readonly Identified[])[]): (string | null)[][] {
  return domains.map((sources) => sources.map((s) => s.identity ?? null));
}

/** One line naming every source whose identity differs from the saved one, or undefined. Sources without a saved or current identity are not compared. */
export function identityMismatch(saved: readonly (readonly (string | null)[])[] | undefined, domains: readonly (readonly Identified[])[]): string | undefined {
  if (saved === undefined) return undefined; // a state from before identities were saved
  const changes: string[] = [];
  domains.forEach((sources, d) =>
    sources.forEach((s, i) => {
      const was = saved[d]?.[i];
      if (was == null || s.identity === undefined) return;
      const change = describeIdentityChange(was, s.identity, s.description);
      if (change !== undefined) changes.push(change);
    }),
  );
  return changes.length === 0 ? undefined : changes.join("; ");
}
