/**
 * Streaming zstd decoding for `.zst` sources: fzstd decodes, this module walks the frames.
 *
 * fzstd's `Decompress` already streams and copes with concatenated and skippable frames, but it
 * skips each frame's content checksum and cannot say where in the file a frame went wrong. So the
 * frame structure (RFC 8878 §3.1) is walked here as the bytes go by — header, then 3-byte block
 * headers whose sizes say where the next one is, then the optional 4-byte checksum — and each
 * zstd frame is handed to a fresh fzstd decoder ending with `final`, its output hashed (XXH64)
 * and counted. A frame that is truncated, fails to decode, or decodes to the wrong checksum or
 * the wrong declared size is a `ZstdFormatError` naming the frame's byte offset. Only the
 * few header bytes are copied; block bodies go to fzstd as views of the caller's chunk.
 */
import * as fs from "node:fs";
import { promisify } from "node:util";
import { Decompress } from "fzstd";
import { Xxh64 } from "../util/xxh64.js";

const readAsync = promisify(fs.read);
/** Compressed bytes per read. */
const READ_BYTES = 4 << 20;

/**
 * Decode a whole file, `onData` receiving each decoded block. Every read goes into a fresh buffer:
 * fzstd keeps an unfinished block's bytes by reference until the next push completes it, so a
 * reused read buffer (io.ts's scanChunks) would overwrite them — a silent corruption that only
 * shows when a block straddles two reads.
 */
export async function decodeZstdFile(fd: number, onData: (bytes: Uint8Array) => void): Promise<void> {
  const decoder = new ZstdDecoder(onData);
  for (let pos = 0; ;) {
    const buf = Buffer.allocUnsafeSlow(READ_BYTES);
    const { bytesRead } = await readAsync(fd, buf, 0, READ_BYTES, pos);
    if (bytesRead === 0) break;
    decoder.push(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  decoder.end();
}

/** The input is not valid zstd: truncated, corrupt, or using a feature we do not read. */
export class ZstdFormatError extends Error {
  override name = "ZstdFormatError";
}

const ZSTD_MAGIC = 0xfd2fb528;
/** Skippable frames have magics 0x184D2A50..0x184D2A5F and carry a 4-byte length. */
const isSkippable = (magic: number): boolean => magic >>> 4 === 0x184d2a5;
/** RFC 8878 §3.1.1.2.3: Block_Size is at most min(Window_Size, 128 KiB). */
const MAX_BLOCK = 128 << 10;

type Phase = "magic" | "skipSize" | "skip" | "fhd" | "header" | "block" | "body" | "checksum";

export class ZstdDecoder {
  private phase: Phase = "magic";
  /** Header bytes collected so far (they may straddle chunks); 18 is the longest frame header. */
  private readonly head = new Uint8Array(18);
  private headLength = 0;
  private headNeed = 4;
  /** Bytes still to pass (block body) or skip (skippable frame). */
  private remaining = 0;
  private lastBlock = false;

  // The current zstd frame.
  private frameStart = 0;
  private hasChecksum = false;
  private contentSize: number | undefined;
  private decoder: Decompress | undefined;
  private readonly hash = new Xxh64();
  private produced = 0;
  /** An error from `onData` (I/O), kept apart from decode errors thrown by fzstd. */
  private sinkError: unknown;

  /** Offset in the compressed stream of the next byte pushed. */
  private offset = 0;
  private frames = 0;

  /** `onData` receives each decoded block (a fresh array, safe to keep). */
  constructor(private readonly onData: (bytes: Uint8Array) => void) {}

  /** `chunk` must not change afterwards: the decoder may keep parts of it (see decodeZstdFile). */
  push(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.phase === "body" || this.phase === "skip") {
        const take = Math.min(this.remaining, chunk.length - i);
        if (this.phase === "body") this.feed(chunk.subarray(i, i + take), false);
        i += take;
        this.remaining -= take;
        if (this.remaining === 0) this.afterSpan();
        continue;
      }
      // A header: gather headNeed bytes, also feeding them to the frame's decoder.
      const take = Math.min(this.headNeed - this.headLength, chunk.length - i);
      this.head.set(chunk.subarray(i, i + take), this.headLength);
      this.headLength += take;
      if (this.phase !== "magic" && this.phase !== "skipSize" && this.phase !== "checksum") {
        this.feed(chunk.subarray(i, i + take), false);
      }
      i += take;
      if (this.headLength === this.headNeed) this.onHeader(this.offset + i);
    }
    this.offset += chunk.length;
  }

  /** The input ended: it must end between frames, after at least one. */
  end(): void {
    if (this.phase === "magic" && this.headLength > 0) {
      throw new ZstdFormatError(`truncated: ${this.headLength} stray bytes at the end (byte ${this.offset - this.headLength})`);
    }
    if (this.phase !== "magic") {
      const where = this.phase === "skipSize" || this.phase === "skip" ? "skippable frame" : "zstd frame";
      throw new ZstdFormatError(`truncated: the file ends inside the ${where} at byte ${this.frameStart}`);
    }
    if (this.frames === 0) throw new ZstdFormatError("empty file: no zstd frame");
  }

  /** The header being gathered is complete; `pos` is the stream offset just past it. */
  private onHeader(pos: number): void {
    const h = this.head;
    switch (this.phase) {
      case "magic": {
        const magic = (h[0] | (h[1] << 8) | (h[2] << 16) | (h[3] << 24)) >>> 0;
        this.frameStart = pos - 4;
        if (isSkippable(magic)) return this.expect("skipSize", 8, true);
        if (magic !== ZSTD_MAGIC) {
          const got = magic.toString(16).padStart(8, "0");
          throw new ZstdFormatError(`not a zstd frame at byte ${this.frameStart} (magic 0x${got}, expected 0x${ZSTD_MAGIC.toString(16)})`);
        }
        this.decoder = new Decompress((data) => this.emit(data));
        this.hash.reset();
        this.produced = 0;
        this.feed(h.slice(0, 4), false);
        return this.expect("fhd", 5, true);
      }
      case "skipSize":
        this.remaining = (h[4] | (h[5] << 8) | (h[6] << 16) | (h[7] << 24)) >>> 0;
        if (this.remaining > 0) return this.expect("skip", 0);
        return this.endFrame();
      case "fhd": {
        const fhd = h[4];
        if (fhd & 0x08) throw this.corrupt("reserved bit set in the frame header");
        const singleSegment = (fhd >> 5) & 1;
        const dictBytes = [0, 1, 2, 4][fhd & 3];
        const fcsBytes = [singleSegment, 2, 4, 8][fhd >> 6];
        this.hasChecksum = ((fhd >> 2) & 1) === 1;
        return this.expect("header", 5 + (singleSegment ? 0 : 1) + dictBytes + fcsBytes, true);
      }
      case "header": {
        const fhd = h[4];
        const dictBytes = [0, 1, 2, 4][fhd & 3];
        const fcsBytes = this.headNeed - 5 - ((fhd >> 5) & 1 ? 0 : 1) - dictBytes;
        const dictAt = this.headNeed - fcsBytes - dictBytes;
        if (dictBytes > 0 && readLE(h, dictAt, dictBytes) !== 0) throw this.corrupt("needs a dictionary, which is not supported");
        const fcs = readLE(h, this.headNeed - fcsBytes, fcsBytes);
        this.contentSize = fcsBytes === 0 ? undefined : fcsBytes === 2 ? fcs + 256 : fcs;
        return this.expect("block", 3);
      }
      case "block": {
        const type = (h[0] >> 1) & 3;
        const size = (h[0] >> 3) | (h[1] << 5) | (h[2] << 13);
        if (type === 3) throw this.corrupt("reserved block type");
        if (size > MAX_BLOCK) throw this.corrupt(`block of ${size} bytes, more than the 128 KiB maximum`);
        this.lastBlock = (h[0] & 1) === 1;
        this.remaining = type === 1 ? 1 : size; // an RLE block stores its one byte
        if (this.remaining > 0) return this.expect("body", 0);
        return this.afterSpan();
      }
      case "checksum":
        return this.finishFrame(readLE(h, 0, 4));
      case "body":
      case "skip":
        throw new Error(`unreachable phase ${this.phase}`);
    }
  }

  /** A block body or skippable payload just ended. */
  private afterSpan(): void {
    if (this.phase === "skip") return this.endFrame();
    if (!this.lastBlock) return this.expect("block", 3);
    if (this.hasChecksum) return this.expect("checksum", 4);
    this.finishFrame(undefined);
  }

  private finishFrame(checksum: number | undefined): void {
    // fzstd skips the checksum itself, so it gets those 4 bytes too; `final` makes it check completeness.
    this.feed(checksum === undefined ? new Uint8Array(0) : this.head.slice(0, 4), true);
    if (checksum !== undefined) {
      const [, lo] = this.hash.digest();
      if (lo !== checksum) {
        throw this.corrupt(`checksum mismatch (stored 0x${hex(checksum)}, decoded data has 0x${hex(lo)}): the data is corrupt`);
      }
    }
    if (this.contentSize !== undefined && this.produced !== this.contentSize) {
      throw this.corrupt(`decoded ${this.produced} bytes, the frame header declares ${this.contentSize}`);
    }
    this.decoder = undefined;
    this.endFrame();
  }

  private endFrame(): void {
    this.frames += 1;
    this.expect("magic", 4);
  }

  /** Gather `bytes` header bytes next; `keep` extends the header gathered so far (offsets stay frame-relative). */
  private expect(phase: Phase, bytes: number, keep = false): void {
    this.phase = phase;
    this.headNeed = bytes;
    if (!keep) this.headLength = 0;
  }

  private feed(bytes: Uint8Array, final: boolean): void {
    try {
      this.decoder!.push(bytes, final);
    } catch (e) {
      if (e === this.sinkError) throw e;
      throw this.corrupt((e as Error).message);
    }
  }

  private emit(data: Uint8Array): void {
    if (data.length === 0) return;
    this.produced += data.length;
    this.hash.update(data);
    try {
      this.onData(data);
    } catch (e) {
      this.sinkError = e;
      throw e;
    }
  }

  private corrupt(what: string): ZstdFormatError {
    return new ZstdFormatError(`corrupt zstd frame at byte ${this.frameStart}: ${what}`);
  }
}

function readLE(b: Uint8Array, at: number, n: number): number {
  let v = 0;
  for (let k = n - 1; k >= 0; k--) v = v * 256 + b[at + k];
  return v;
}

const hex = (n: number): string => n.toString(16).padStart(8, "0");
