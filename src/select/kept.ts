/**
 * What the domain reader needs to serve only the kept documents: block sizes recounted over the
 * kept ids (for domains shuffled by blocks), and sidecar scores attached as metadata.
 */
import type { ReadResult } from "../sources/types.js";

/**
 * Sizes of `blocks` (consecutive document ranges, in id order) counted over the kept ids only.
 * Kept ids are ascending, so block b's kept documents are a contiguous run of `kept` and the
 * block shuffle (sample/block-shuffle.ts) over these sizes still reads one row group at a time.
 */
export function keptBlockSizes(blocks: readonly number[], kept: Uint32Array): number[] {
  const out: number[] = [];
  let end = 0;
  let k = 0;
  for (const size of blocks) {
    end += size;
    const from = k;
    while (k < kept.length && kept[k] < end) k++;
    out.push(k - from);
  }
  return out;
}

/**
 * The document with `field: value` added to its metadata (scores read from a sidecar). Bad
 * documents pass through. Built property by property rather than by spreads and a computed key:
 * this runs once per served document, and the spread copies measured several times slower to
 * create and to pack (likely slow-mode objects).
 */
export function attachScore(raw: ReadResult, field: string, value: number): ReadResult {
  if (raw.kind === "bad") return raw;
  const metadata: Record<string, string | number | boolean | null> = {};
  if (raw.metadata !== undefined) for (const key in raw.metadata) metadata[key] = raw.metadata[key];
  metadata[field] = value;
  return raw.kind === "tokens" ? { kind: "tokens", tokens: raw.tokens, metadata } : { kind: "text", text: raw.text, metadata };
}
