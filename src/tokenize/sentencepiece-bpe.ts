/**
 * SentencePiece-style BPE (llama2, Gemma, Mistral: "▁" for spaces, merges over characters, byte
 * fallback) for cached-encoder.ts: where to cut a model input into cacheable pieces, and the
 * cache-miss path on ids.
 *
 * These tokenizers hand the model whole sections (llama2 has no pre-tokenizer; Gemma's splits on
 * " ", which its normalizer has already replaced), so there is no pre-token to cache. A cut is
 * exact when no merge can cross it: the library's BPE only ever merges two adjacent symbols
 * (a, b) that form a merge rule, and the symbols next to a cut between code points x and y end
 * in x and start with y. So if no rule has a left part ending in x and a right part starting
 * with y, the symbols on either side evolve independently, each side in the order the library
 * would take alone (lowest rank, then leftmost, within the side), and the result is the
 * concatenation. Byte fallback and unk are applied per final symbol, after merging. With
 * `ignore_merges` (a whole vocabulary word skips merging) the argument fails: no cuts then.
 * Cuts are made before "▁" unless the code point before it can join it: llama2 has one such
 * rule family ("▁▁…", runs of spaces), Gemma two ("▁▁…" and ">▁</").
 */
import { BpeMerges, MAX_SYMBOLS } from "./bpe-merges.js";

export const MARKER = "\u2581";

/** The runtime fields of the library's BPE model this needs. */
export interface CharBpeModelFields {
  tokens_to_ids: Map<string, number>;
  merges: [string, string][];
  ignore_merges: boolean;
  byte_fallback: boolean;
  unk_token?: string | null;
  unk_token_id?: number;
  end_of_word_suffix?: string | null;
  continuing_subword_suffix?: string | null;
}

const lastCodePoint = (s: string) =>
  s.codePointAt(s.length >= 2 && s.charCodeAt(s.length - 1) >= 0xdc00 && s.charCodeAt(s.length - 1) <= 0xdfff ? s.length - 2 : s.length - 1) as number;

/** Where a model input may be cut before "▁" (see the header for why that is exact). */
export class MarkerCuts {
  private constructor(
    /** Code points x with a merge rule (…x, ▁…): no cut between x and "▁". */
    private readonly joins: Set<number>,
    /** Every (x, y) some merge rule spans, as x · 2^21 + y: the only places a long piece cannot be cut. */
    private readonly spans: Set<number>,
  ) {}

  /** Cuts for this model, or null when cutting would not be exact or would never happen. */
  static create(model: CharBpeModelFields): MarkerCuts | null {
    if (model.ignore_merges || model.end_of_word_suffix || model.continuing_subword_suffix) return null;
    if (!Array.isArray(model.merges) || !model.tokens_to_ids.has(MARKER)) return null;
    const joins = new Set<number>();
    const spans = new Set<number>();
    for (const [a, b] of model.merges) {
      if (a.length === 0 || b.length === 0) return null;
      const x = lastCodePoint(a);
      spans.add(x * 0x200000 + (b.codePointAt(0) as number));
      if (b.startsWith(MARKER)) joins.add(x);
    }
    return new MarkerCuts(joins, spans);
  }

  /**
   * Within a long piece [from, end) with no "▁" cut (a base64 block, a run of CJK): the next place
   * between two code points that no merge rule spans. Rarely taken, so a Set of pairs is fast
   * enough. Returns `end` when there is none.
   */
  nextAnywhere(text: string, from: number, end: number): number {
    let x = text.codePointAt(from) as number;
    for (let i = from + (x > 0xffff ? 2 : 1); i < end;) {
      const y = text.codePointAt(i) as number;
      if (!this.spans.has(x * 0x200000 + y)) return i;
      x = y;
      i += y > 0xffff ? 2 : 1;
    }
    return end;
  }

  /** The end of the piece that starts at `from` (the next cut, or the end of the text). */
  next(text: string, from: number): number {
    let i = from;
    for (;;) {
      i = text.indexOf(MARKER, i + 1);
      if (i < 0) return text.length;
      let x = text.charCodeAt(i - 1);
      if (x >= 0xdc00 && x <= 0xdfff && i >= 2) x = text.codePointAt(i - 2) as number;
      if (!this.joins.has(x)) return i;
    }
  }
}

/**
 * A piece's ids by merging on ids: the code points are the initial symbols. A code point that is
 * not a vocabulary token cannot merge (checked: no merge rule has a part outside the vocabulary)
 * and ends as its own final token, which the library turns into its UTF-8 bytes' `<0xXX>`
 * tokens (byte fallback) or unk; here it is a negative id until then. Null (the library's way)
 * when a merge's result is not a vocabulary token or the piece is long.
 */
export class CharBpe {
  private readonly syms = new Int32Array(MAX_SYMBOLS);
  private readonly encoder = new TextEncoder();
  /** Code point outside the vocabulary → the ids the library gives it alone. */
  private readonly fallback = new Map<number, Int32Array>();

  private constructor(
    private readonly model: CharBpeModelFields,
    private readonly charId: Map<number, number>,
    private readonly merges: BpeMerges,
  ) {}

  static create(model: CharBpeModelFields): CharBpe | null {
    if (model.ignore_merges || model.end_of_word_suffix || model.continuing_subword_suffix || !Array.isArray(model.merges)) return null;
    const ids = model.tokens_to_ids;
    // Ids stand for strings only if no two strings share one (an added token given a vocabulary id).
    const seen = new Set<number>();
    const charId = new Map<number, number>();
    for (const [token, id] of ids) {
      if (seen.has(id)) return null;
      seen.add(id);
      const cp = token.codePointAt(0);
      if (cp !== undefined && token.length === (cp > 0xffff ? 2 : 1)) charId.set(cp, id);
    }
    // A rule with a part outside the vocabulary could merge an unknown character: the library's strings would, ids would not.
    for (const [a, b] of model.merges) if (!ids.has(a) || !ids.has(b)) return null;
    return new CharBpe(model, charId, new BpeMerges(model.merges, ids));
  }

  encode(piece: string): Int32Array | null {
    const end = piece.length;
    if (end > MAX_SYMBOLS) return null;
    const syms = this.syms;
    let n = 0;
    let unknown = false;
    for (let i = 0; i < end;) {
      const cp = piece.codePointAt(i) as number;
      const id = this.charId.get(cp);
      if (id === undefined) unknown = true;
      syms[n++] = id ?? -2 - cp;
      i += cp > 0xffff ? 2 : 1;
    }
    const len = this.merges.merge(syms, n);
    if (len < 0) return null;
    if (!unknown) return syms.slice(0, len);
    let total = 0;
    for (let i = 0; i < len; i++) total += syms[i] >= 0 ? 1 : this.unknownIds(-2 - syms[i]).length;
    const out = new Int32Array(total);
    let k = 0;
    for (let i = 0; i < len; i++) {
      if (syms[i] >= 0) out[k++] = syms[i];
      else {
        const f = this.unknownIds(-2 - syms[i]);
        out.set(f, k);
        k += f.length;
      }
    }
    return out;
  }

  /** BPE.encode on a final token outside the vocabulary: its bytes' tokens if all exist, else unk, else nothing. */
  private unknownIds(cp: number): Int32Array {
    let ids = this.fallback.get(cp);
    if (ids === undefined) {
      const m = this.model;
      const bytes = m.byte_fallback
        ? Array.from(this.encoder.encode(String.fromCodePoint(cp)), (x) => m.tokens_to_ids.get(`<0x${x.toString(16).toUpperCase().padStart(2, "0")}>`))
        : [undefined];
      const unk = m.unk_token != null ? m.tokens_to_ids.get(m.unk_token) : undefined;
      // An unk token outside the vocabulary maps to the library's `?? unk_token_id` (undefined → 0 in an Int32Array).
      ids = bytes.every((x) => x !== undefined)
        ? Int32Array.from(bytes as number[])
        : m.unk_token != null
          ? Int32Array.of(unk ?? m.unk_token_id ?? 0)
          : new Int32Array(0);
      this.fallback.set(cp, ids);
    }
    return ids;
  }
}
