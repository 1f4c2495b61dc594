/**
 * Reading many small byte spans of a remote file in few requests. A request costs a round trip
 * (≈ 0.1 ms over loopback, 1–50 ms to a real server) while a few extra KB cost almost nothing, so
 * spans that are close together in the file are fetched as one range and cut apart here.
 */
import type { ByteSource } from "./byte-source.js";

export interface Span {
  readonly start: number;
  /** Exclusive. */
  readonly end: number;
}

export interface MergeOptions {
  /** Spans at most this many bytes apart share a request. Default 64 KiB. */
  readonly maxGap?: number;
  /** A merged request stops growing at this size (responses are held in memory). Default 8 MiB. */
  readonly maxBytes?: number;
}

/** A request covering `spans[i]` for each i in `members`. */
export interface Fetch extends Span {
  readonly members: number[];
}

/** Group spans (any order, overlaps allowed) into requests, in file order. */
export function planFetches(spans: readonly Span[], options: MergeOptions = {}): Fetch[] {
  const maxGap = options.maxGap ?? 64 << 10;
  const maxBytes = options.maxBytes ?? 8 << 20;
  const order = spans.map((_, i) => i).sort((a, b) => spans[a].start - spans[b].start);
  const fetches: { start: number; end: number; members: number[] }[] = [];
  for (const i of order) {
    const s = spans[i];
    const cur = fetches[fetches.length - 1];
    if (cur !== undefined && s.start - cur.end <= maxGap && Math.max(cur.end, s.end) - cur.start <= maxBytes) {
      cur.end = Math.max(cur.end, s.end);
      cur.members.push(i);
    } else {
      fetches.push({ start: s.start, end: s.end, members: [i] });
    }
  }
  return fetches;
}

/** The bytes of each span, in the order given, fetched as merged ranges in parallel. Views share the fetched buffers. */
export async function readSpans(source: ByteSource, spans: readonly Span[], options?: MergeOptions): Promise<Uint8Array[]> {
  const out = new Array<Uint8Array>(spans.length);
  await Promise.all(
    planFetches(spans, options).map(async (f) => {
      const bytes = f.end > f.start ? await source.read(f.start, f.end - f.start) : new Uint8Array(0);
      for (const i of f.members) out[i] = bytes.subarray(spans[i].start - f.start, spans[i].end - f.start);
    }),
  );
  return out;
}
