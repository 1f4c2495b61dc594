/**
 * The exact-duplicate key: XXH64 (util/xxh64.ts) of the normalised text's UTF-8 bytes, or of a
 * pre-tokenized document's int32 ids (little-endian, as Megatron stores them). 64 bits: among
 * 10⁸ documents the chance of any false match is n²/2⁶⁵ ≈ 3·10⁻⁴, so keys are compared, not texts.
 */
import { Xxh64 } from "../../util/xxh64.js";

export class ExactHasher {
  private readonly xxh = new Xxh64();
  private readonly encoder = new TextEncoder();
  private bytes = new Uint8Array(4096);

  /** Hash `normalized` into out[at] (high word) and out[at + 1] (low word). */
  text(normalized: string, out: Uint32Array, at: number): void {
    // UTF-8 needs at most 3 bytes per UTF-16 code unit.
    if (this.bytes.length < normalized.length * 3) this.bytes = new Uint8Array(normalized.length * 3);
    const { written } = this.encoder.encodeInto(normalized, this.bytes);
    this.hash(this.bytes.subarray(0, written), out, at);
  }

  tokens(tokens: Int32Array, out: Uint32Array, at: number): void {
    this.hash(new Uint8Array(tokens.buffer, tokens.byteOffset, tokens.byteLength), out, at);
  }

  private hash(bytes: Uint8Array, out: Uint32Array, at: number): void {
    this.xxh.reset();
    this.xxh.update(bytes);
    const [hi, lo] = this.xxh.digest();
    out[at] = hi;
    out[at + 1] = lo;
  }
}
