/**
 * The dedup sidecar: one binary file, written by `mixload dedup` (or into the cache at open) and
 * read by the loader, so deduplication runs once per version of the data.
 *
 *   "MXLDEDUP"  u32 LE header length  header JSON (UTF-8)  zero padding to a multiple of 4
 *   per domain, in header order: dropped u32[n]  rep_domain u32[n]  rep_id u32[n]  reason u8[n] (+ padding to 4)
 *
 * The header holds the key (dedup parameters, domain names in order, and per source its
 * description, document count, what sources/identity.ts says its bytes are, and its spec), the
 * per-domain counts, the matrix, and the SHA-256 of the body. A sidecar whose key differs from
 * the sources opened now is refused in one line naming what differs: the changed file (size,
 * ETag), the source whose document count moved, or the parameter. Text-folder sources carry no
 * identity, so for them only the document count is compared.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import { describeIdentityChange } from "../../sources/identity.js";
import { writeFileAtomic } from "../../util/atomic-file.js";
import type { DedupResult, DomainDedup } from "./result.js";
import type { DedupParams } from "./params.js";

const MAGIC = "MXLDEDUP";

export interface SourceKey {
  readonly description: string;
  readonly documents: number;
  readonly identity: string | null;
  /** The source's config entry without its path (field, transform, ...): other documents from the same bytes. */
  readonly spec: unknown;
}

export interface SidecarKey {
  readonly params: DedupParams;
  readonly on_error: "fail" | "skip";
  readonly domains: readonly { readonly name: string; readonly sources: readonly SourceKey[] }[];
}

interface Header {
  format: "mixload-dedup";
  version: 1;
  key: SidecarKey;
  domains: { name: string; documents: number; dropped: number; exact: number; near: number; skipped: Record<string, number> }[];
  matrix: DedupResult["matrix"];
  stats: DedupResult["stats"];
  body_sha256: string;
}

/** The name a result is cached under: a digest of its key. */
export function keyDigest(key: SidecarKey): string {
  return createHash("sha256").update(JSON.stringify(key)).digest("hex").slice(0, 32);
}

export function writeSidecar(file: string, key: SidecarKey, result: DedupResult): void {
  const parts: Uint8Array[] = [];
  for (const d of result.domains) {
    parts.push(bytesOf(d.dropped), bytesOf(d.repDomain), bytesOf(d.repId), d.reason, new Uint8Array((4 - (d.reason.length % 4)) % 4));
  }
  const body = Buffer.concat(parts);
  const header: Header = {
    format: "mixload-dedup",
    version: 1,
    key,
    domains: result.domains.map((d) => ({
      name: d.name,
      documents: d.documents,
      dropped: d.dropped.length,
      exact: d.exact,
      near: d.near,
      skipped: { ...d.skipped },
    })),
    matrix: result.matrix,
    // Without the time it took, so the same data and parameters always give the same bytes.
    stats: { ...result.stats, seconds: 0 },
    body_sha256: createHash("sha256").update(body).digest("hex"),
  };
  const json = Buffer.from(JSON.stringify(header));
  const lead = 8 + 4 + json.length;
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.length);
  writeFileAtomic(file, Buffer.concat([Buffer.from(MAGIC), length, json, Buffer.alloc((4 - (lead % 4)) % 4), body]));
}

/** A sidecar that cannot be used, with one line saying why (the file is named by the caller). */
export class SidecarMismatch extends Error {}

/** Read a sidecar and check it against `key`; throws SidecarMismatch naming what differs. */
export function readSidecar(file: string, key: SidecarKey): DedupResult {
  const bytes = fs.readFileSync(file);
  if (bytes.length < 12 || bytes.subarray(0, 8).toString("latin1") !== MAGIC) throw new SidecarMismatch("not a mixload dedup sidecar");
  const headerLength = bytes.readUInt32LE(8);
  let header: Header;
  try {
    header = JSON.parse(bytes.subarray(12, 12 + headerLength).toString("utf8")) as Header;
  } catch {
    throw new SidecarMismatch("its header is not valid JSON (truncated?)");
  }
  if (header.format !== "mixload-dedup" || header.version !== 1)
    throw new SidecarMismatch(`unknown format ${JSON.stringify(header.format)} version ${header.version}`);
  const difference = describeKeyChange(header.key, key);
  if (difference !== undefined) throw new SidecarMismatch(`computed from other data: ${difference}`);
  let at = 12 + headerLength;
  at += (4 - (at % 4)) % 4;
  const body = bytes.subarray(at);
  if (createHash("sha256").update(body).digest("hex") !== header.body_sha256)
    throw new SidecarMismatch("its body does not match its checksum (corrupt or truncated)");
  let p = 0;
  const u32 = (n: number): Uint32Array => {
    const out = new Uint32Array(n);
    Buffer.from(out.buffer).set(body.subarray(p, p + 4 * n));
    p += 4 * n;
    return out;
  };
  const domains: DomainDedup[] = header.domains.map((d) => {
    const dropped = u32(d.dropped),
      repDomain = u32(d.dropped),
      repId = u32(d.dropped);
    const reason = Uint8Array.from(body.subarray(p, p + d.dropped));
    p += d.dropped + ((4 - (d.dropped % 4)) % 4);
    return { name: d.name, documents: d.documents, dropped, reason, repDomain, repId, exact: d.exact, near: d.near, skipped: d.skipped };
  });
  return { params: header.key.params, domains, matrix: header.matrix, stats: header.stats };
}

/** Undefined when the keys match; otherwise the first differences, as one line. */
export function describeKeyChange(saved: SidecarKey, now: SidecarKey): string | undefined {
  const out: string[] = [];
  const names = (k: SidecarKey) => JSON.stringify(k.domains.map((d) => d.name));
  if (names(saved) !== names(now)) return `domains ${names(saved)} → ${names(now)} (the keep rule follows domain order)`;
  diffObject("dedup", saved.params, now.params, out);
  if (saved.on_error !== now.on_error) out.push(`on_error ${saved.on_error} → ${now.on_error}`);
  saved.domains.forEach((d, i) => {
    const current = now.domains[i].sources;
    if (d.sources.length !== current.length) {
      out.push(`domain ${JSON.stringify(d.name)} had ${d.sources.length} sources, now ${current.length}`);
      return;
    }
    d.sources.forEach((s, j) => {
      const c = current[j];
      if (s.description !== c.description) out.push(`domains[${d.name}].sources[${j}] was ${s.description}, now ${c.description}`);
      else if (s.identity !== null && c.identity !== null && describeIdentityChange(s.identity, c.identity, c.description) !== undefined)
        out.push(describeIdentityChange(s.identity, c.identity, c.description) as string);
      else if (s.documents !== c.documents) out.push(`${c.description} had ${s.documents} documents, now ${c.documents}`);
      else if (JSON.stringify(s.spec) !== JSON.stringify(c.spec))
        out.push(`${c.description}: source settings ${JSON.stringify(s.spec)} → ${JSON.stringify(c.spec)}`);
    });
  });
  return out.length === 0 ? undefined : out.join("; ");
}

function diffObject(at: string, a: unknown, b: unknown, out: string[]): void {
  if (JSON.stringify(a) === JSON.stringify(b)) return;
  if (a !== null && b !== null && typeof a === "object" && typeof b === "object") {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)]))
      diffObject(`${at}.${k}`, (a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], out);
    return;
  }
  out.push(`${at} ${JSON.stringify(a)} → ${JSON.stringify(b)}`);
}

function bytesOf(xs: Uint32Array): Uint8Array {
  return new Uint8Array(xs.buffer, xs.byteOffset, xs.byteLength);
}
