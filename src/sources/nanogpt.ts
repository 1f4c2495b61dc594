/**
 * nanoGPT token files: raw little-endian uint16 token ids, no header (what nanoGPT's
 * `prepare.py` writes with `np.memmap(..., dtype=np.uint16)`), documents separated by EOS.
 *
 * A document is everything up to and including its EOS; trailing tokens after the last EOS
 * form one more document without an EOS. `open` finds the EOS positions in one chunked scan.
 * Two EOS in a row make a document that is just an EOS: an empty text, reported (not served)
 * as `empty_document` so it is counted like any other, with the document boundaries unchanged.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import type { BadDocument, RawDocument, SourceInfo, SyncSource } from "./types.js";
import { DataError } from "../util/errors.js";
import { GrowableF64, openForRead, readExact, scanChunks, statIdentity } from "./io.js";
import { checkTokens, emptyDocument } from "./token-check.js";

export interface NanoGptOptions {
  /** The end-of-document token id (required: it differs per tokenizer, 50256 for GPT-2). */
  readonly eosId: number;
  /** Ids must be in [0, vocabSize); others make the document `token_out_of_range`. Unset: not checked. */
  readonly vocabSize?: number;
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
    const info: SourceInfo = { format: "nanogpt", files: 1, remote: false, bytes: size };
    return new NanoGptSource(file, fd, ends.finish(), eosId, options.vocabSize, info, statIdentity(fs.fstatSync(fd)));
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
    private readonly eosId: number,
    private readonly vocabSize: number | undefined,
    readonly info: SourceInfo,
    readonly identity: string,
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
    if (n === 1 && tokens[0] === this.eosId) return emptyDocument(this.description, d, `is a lone EOS (id ${this.eosId}): an empty text`);
    return checkTokens(tokens, this.vocabSize, this.description, d) ?? { kind: "tokens", tokens };
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}
