/**
 * The cache-miss path of cached-encoder.ts for the common case — a ByteLevel step after the
 * split, then BPE — on token ids instead of strings: the library's result at ~10× its speed.
 * The piece's UTF-8 bytes are the initial symbols (each byte's one-character token), merged by
 * bpe-merges.ts. Pieces longer than MAX_SYMBOLS bytes, and merges whose result is not a
 * vocabulary token, return null and go to the library.
 */
import { BpeMerges, MAX_SYMBOLS } from "./bpe-merges.js";

/** The runtime fields of the library's BPE model this needs. */
export interface BpeModelFields {
  tokens_to_ids: Map<string, number>;
  merges: [string, string][];
  ignore_merges: boolean;
  byte_fallback: boolean;
  end_of_word_suffix?: string | null;
  continuing_subword_suffix?: string | null;
}

/** The runtime fields of the library's ByteLevel pre-tokenizer. */
export interface ByteLevelFields {
  add_prefix_space: boolean;
  use_regex: boolean;
  byte_encoder: Record<number, string>;
}

export class ByteLevelBpe {
  private readonly encoder = new TextEncoder();
  private readonly merges: BpeMerges;
  /** Byte → the id of its one-character token. */
  private readonly byteId = new Int32Array(256);
  private readonly byteChar: string[] = [];
  /** Scratch symbols and UTF-8 bytes (up to 3 per UTF-16 unit), reused: a miss allocates only its result. */
  private readonly syms = new Int32Array(MAX_SYMBOLS);
  private readonly bytes = new Uint8Array(3 * MAX_SYMBOLS);

  private constructor(
    private readonly model: BpeModelFields,
    private readonly byteLevel: ByteLevelFields,
    /** Ids whose token string is also an added token's (normalized) content: the library maps them to the added id. */
    private readonly idOverride: Map<number, number>,
  ) {
    for (let b = 0; b < 256; b++) {
      this.byteChar[b] = byteLevel.byte_encoder[b];
      this.byteId[b] = model.tokens_to_ids.get(this.byteChar[b]) ?? -1;
    }
    this.merges = new BpeMerges(model.merges, model.tokens_to_ids);
  }

  /** The fast path for this model and pre-tokenizer tail, or null when it would not be exact. */
  static create(
    model: BpeModelFields,
    tail: unknown[],
    addedTokens: Map<string, { id: number }>,
    isByteLevel: (step: unknown) => boolean,
  ): ByteLevelBpe | null {
    if (tail.length !== 1 || !isByteLevel(tail[0])) return null;
    const byteLevel = tail[0] as ByteLevelFields;
    if (byteLevel.use_regex || model.byte_fallback || model.end_of_word_suffix || model.continuing_subword_suffix) return null;
    if (!Array.isArray(model.merges) || !(model.tokens_to_ids instanceof Map)) return null;
    const idOverride = new Map<number, number>();
    for (const [content, token] of addedTokens) {
      const id = model.tokens_to_ids.get(content);
      if (id !== undefined && id !== token.id) idOverride.set(id, token.id);
    }
    const bpe = new ByteLevelBpe(model, byteLevel, idOverride);
    for (let b = 0; b < 256; b++) if (bpe.byteId[b] < 0) return null;
    return bpe;
  }

  /** The ids the library gives `piece` after the ByteLevel step, or null to let the library do it. */
  encode(piece: string): Int32Array | null {
    const text = this.byteLevel.add_prefix_space && !piece.startsWith(" ") ? " " + piece : piece;
    // Every UTF-16 unit is at least one byte: a longer text is past MAX_SYMBOLS for sure.
    if (text.length > MAX_SYMBOLS) return null;
    const bytes = this.bytes;
    const n = this.encoder.encodeInto(text, bytes).written;
    if (n === 0) return new Int32Array(0);
    if (n > MAX_SYMBOLS) return null;
    if (this.model.ignore_merges) {
      let word = "";
      for (let i = 0; i < n; i++) word += this.byteChar[bytes[i]];
      const whole = this.model.tokens_to_ids.get(word);
      if (whole !== undefined) return Int32Array.of(this.idOverride.get(whole) ?? whole);
    }
    const syms = this.syms;
    for (let i = 0; i < n; i++) syms[i] = this.byteId[bytes[i]];
    const len = this.merges.merge(syms, n);
    if (len < 0) return null; // a merged string that is not a vocabulary token: the library's way
    const out = syms.slice(0, len);
    if (this.idOverride.size > 0) for (let i = 0; i < len; i++) out[i] = this.idOverride.get(out[i]) ?? out[i];
    return out;
  }
}
