/**
 * nanoGPT token files: raw little-endian uint16 token ids, no header (what nanoGPT's
 * `prepare.py` writes with `np.memmap(..., dtype=np.uint16)`), documents separated by EOS.
 *
 * A document is everything up to and including its EOS; trailing tokens after the last EOS
 * form one more document without an EOS. `open` finds the EOS positions in one chunked scan.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import type { BadDocument, RawDocument, SyncSource } from "./types.js";
import { DataError } from "../util/errors.js";
import { GrowableF64, openForRead, readExact, scanChunks } from "./io.js";

export interface NanoGptOptions {
  /** The end-of-document token id (required: it differs per tokenizer, 50256 for GPT-2). */
  readonly eosId: number;
}

export async function openNanoGpt(file: string, options: NanoGptOptions): Promise<SyncSource> {
  if (os.endianness() !== "LE") throw new Error("nanoGPT files are little-endian; big-endian hosts are not supported");
  const { eosId } = options;
  if (!Number.isInteger(eosId) || eosId < 0 || eosId > 65535) throw new RangeError(`eos_id must be in [0, 65535], got ${eosId}`);
  const { fd, size } = openForRead(file);
  try {
    if (size % 2 !== 0) throw new DataError("bad_format", file, undefined, `${size} bytes is not a whole number of uint16 tokens`);
    // ends[d] = token index one past document d's last token.
    const ends = new GrowableF64();
    let lastEnd = 0;
    // The chunk size is even, so chunks split only between tokens.
    await scanChunks(fd, (bytes, pos) => {
      const tokens = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length >> 1);
      const base = pos / 2;
      let i = tokens.indexOf(eosId);
      while (i !== -1) {
        lastEnd = base + i + 1;
        ends.push(lastEnd);
        i = tokens.indexOf(eosId, i + 1);
      }
    });
    const total = size / 2;
    if (lastEnd < total) ends.push(total);
    return new NanoGptSource(file, fd, ends.finish());
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

class NanoGptSource implements SyncSource {
  readonly numDocuments: number;

  constructor(
    readonly description: string,
    private readonly fd: number,
    private readonly ends: Float64Array,
  ) {
    this.numDocuments = ends.length;
  }

  read(d: number): RawDocument | BadDocument {
    if (!(d >= 0 && d < this.numDocuments)) throw new RangeError(`document ${d} out of range`);
    const start = d === 0 ? 0 : this.ends[d - 1];
    const n = this.ends[d] - start;
    const bytes = readExact(this.fd, start * 2, n * 2);
    const tokens = new Int32Array(n);
    tokens.set(new Uint16Array(bytes.buffer, 0, n));
    return { kind: "tokens", tokens };
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}
