/**
 * Megatron `.bin`/`.idx` on an HTTP server (`{"type": "megatron", "path": "https://host/prefix"}`).
 *
 * The `.idx` is small (12 bytes per sequence) and needed for every read, so open fetches it whole
 * and checks it with megatron.ts's parseIndex, exactly as a local one. A small `.bin` is fetched
 * whole too (preload.ts, the local preload's rule); a large one stays on the server: `readMany`
 * turns the requested documents into byte spans of `.bin` and fetches them as a few merged range
 * requests (ranges.ts), so a block of 64 documents is not 64 round trips.
 */
import type { AsyncSource, BadDocument, RawDocument, SourceInfo } from "./types.js";
import type { ByteSource } from "./byte-source.js";
import { HttpByteSource } from "./http.js";
import { REMOTE_PRELOAD_BYTES, fetchWhole } from "./preload.js";
import type { RemoteOptions } from "./remote.js";
import { filesIdentity } from "./identity.js";
import { assertLittleEndian, convert, itemBytes, megatronDocument, parseIndex, type MegatronIndex } from "./megatron.js";
import { readSpans, type MergeOptions, type Span } from "./ranges.js";

export interface RemoteMegatronOptions {
  readonly remote?: RemoteOptions;
  /** As for local Megatron: ids outside [0, vocabSize) make a bad document. */
  readonly vocabSize?: number;
}

export async function openRemoteMegatron(prefix: string, options: RemoteMegatronOptions = {}): Promise<AsyncSource> {
  assertLittleEndian();
  const idxUrl = `${prefix}.idx`;
  const binUrl = `${prefix}.bin`;
  const idx = await HttpByteSource.open(idxUrl, options.remote);
  try {
    const opened = await HttpByteSource.open(binUrl, options.remote);
    let bin: ByteSource = opened;
    try {
      const raw = await idx.read(0, idx.size);
      const index = parseIndex(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength), idxUrl, bin.size, binUrl);
      const identity = filesIdentity([idx, bin]);
      const info: SourceInfo = { format: "megatron", files: 2, remote: true, bytes: idx.size + bin.size };
      // Checked against the index first, so a bad pair fails before a large download.
      if (bin.size <= (options.remote?.preloadBytes ?? REMOTE_PRELOAD_BYTES)) bin = await fetchWhole(opened);
      return new RemoteMegatronSource(prefix, bin, index, identity, info, options.remote?.merge, options.vocabSize);
    } catch (e) {
      bin.close();
      throw e;
    }
  } finally {
    idx.close(); // read once; only .bin is read after open
  }
}

class RemoteMegatronSource implements AsyncSource {
  readonly numDocuments: number;
  private readonly itemSize: number;

  constructor(
    readonly description: string,
    private readonly bin: ByteSource,
    private readonly index: MegatronIndex,
    readonly identity: string,
    readonly info: SourceInfo,
    private readonly merge: MergeOptions | undefined,
    private readonly vocabSize: number | undefined,
  ) {
    this.numDocuments = index.docIndices.length - 1;
    this.itemSize = itemBytes(index.dtype);
  }

  async readMany(indices: readonly number[]): Promise<(RawDocument | BadDocument)[]> {
    const { lengths, pointers, docIndices } = this.index;
    // One span per sequence; a document is sequences [docIndices[d], docIndices[d + 1]).
    const spans: Span[] = [];
    const firstSpan: number[] = [];
    for (const d of indices) {
      firstSpan.push(spans.length);
      if (!(Number.isInteger(d) && d >= 0 && d < this.numDocuments)) throw new RangeError(`document ${d} out of range`);
      for (let s = docIndices[d]; s < docIndices[d + 1]; s++) spans.push({ start: pointers[s], end: pointers[s] + lengths[s] * this.itemSize });
    }
    const bytes = await readSpans(this.bin, spans, this.merge);
    return indices.map((d, i) => {
      let next = firstSpan[i];
      const first = docIndices[d];
      const last = docIndices[d + 1];
      let total = 0;
      for (let s = first; s < last; s++) total += lengths[s];
      const tokens = new Int32Array(total);
      let k = 0;
      for (let s = first; s < last; s++) {
        let b = bytes[next++];
        // Typed views need aligned offsets; Megatron pointers are multiples of the item size, but check.
        if (b.byteOffset % this.itemSize !== 0) b = b.slice();
        const bad = convert(b, this.index.dtype, tokens, k);
        if (bad !== undefined) return { kind: "bad", reason: "bad_format", file: `${this.description}.bin`, detail: bad };
        k += lengths[s];
      }
      return megatronDocument(tokens, d, this.description, this.vocabSize);
    });
  }

  close(): void {
    this.bin.close();
  }
}
