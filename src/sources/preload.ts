/**
 * Small remote files held in memory.
 *
 * Over HTTP every read is a request: ≈ 0.3 ms of CPU between client and server even on loopback
 * (measured: ~3,000 range requests/s on 2 cores), a round trip on a real network. Documents are
 * read in a shuffled order spread over the whole file, so a cache helps only in proportion to the
 * share of the file it holds: for a small file the useful cache is the whole file. Files up to
 * the limit are therefore fetched once at open, with one streamed GET (resumable: http.ts `scan`),
 * and read from memory — the same rule and limit as local Megatron's preload (megatron.ts).
 * Larger files are read by merged range requests (ranges.ts).
 */
import type { ByteSource } from "./byte-source.js";
import type { HttpByteSource } from "./http.js";
import { DataError } from "../util/errors.js";

/** Default limit: local Megatron's PRELOAD_LIMIT_BYTES. */
export const REMOTE_PRELOAD_BYTES = 128 << 20;

/** A remote file's bytes as fetched at open: same name and identity, no more requests. */
export class MemoryByteSource implements ByteSource {
  readonly remote = true;
  readonly size: number;

  constructor(
    readonly name: string,
    readonly identity: string,
    private readonly data: Uint8Array,
  ) {
    this.size = data.length;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (!(offset >= 0 && length >= 0 && offset + length <= this.size)) {
      throw new DataError("bad_format", this.name, undefined, `range ${offset}+${length} is outside the file (${this.size} bytes)`);
    }
    return this.data.subarray(offset, offset + length);
  }

  close(): void {}
}

/** Fetch all of `file`, calling `onChunk` with each piece as it arrives (a scan riding along), then close it. */
export async function fetchWhole(file: HttpByteSource, onChunk?: (bytes: Buffer, position: number) => void): Promise<MemoryByteSource> {
  const data = new Uint8Array(file.size); // its own buffer at offset 0: typed views at aligned offsets stay aligned
  try {
    await file.scan((bytes, pos) => {
      data.set(bytes, pos);
      onChunk?.(bytes, pos);
    });
  } finally {
    file.close();
  }
  return new MemoryByteSource(file.name, file.identity, data);
}
