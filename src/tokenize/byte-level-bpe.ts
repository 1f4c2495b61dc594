/**
 * The cache-miss path of cached-encoder.ts for the common case — a ByteLevel step after the
 * split, then BPE — on token ids instead of strings: the library's result at ~10× its speed.
 *
 * The library (BPE.bpe, v0.2) merges, among all adjacent pairs, the one of lowest merge rank,
 * ties to the leftmost (its heap scores are rank + position / length), until no pair has a rank.
 * Here the symbols are ids, a pair's rank comes from one Map<number, number> keyed by
 * `left · V + right`, and a merge's result is `mergedId[rank]`; the library instead builds a
 * JSON string per pair lookup and an object per symbol. That only works if every merge's parts
 * and result are vocabulary tokens; `ByteLevelBpe.create` returns null otherwise, and the
 * caller keeps the library's path. Pieces longer than `MAX_BYTES` (the scan is quadratic in
 * the piece's length, the library's heap is not) return null and go to the library too.
 */

const MAX_BYTES = 256;

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

/**
 * Merge pair → rank, open addressing over typed arrays: 2 × 32-bit ids per key, no per-entry
 * objects (pairs of 17-bit ids do not fit a small integer, and a Map of heap-number keys is slow).
 */
class PairRanks {
  private readonly left: Int32Array;
  private readonly right: Int32Array;
  private readonly rank: Int32Array;
  private readonly mask: number;

  constructor(entries: number) {
    let capacity = 1024;
    while (capacity < entries * 2) capacity *= 2;
    this.left = new Int32Array(capacity).fill(-1);
    this.right = new Int32Array(capacity);
    this.rank = new Int32Array(capacity);
    this.mask = capacity - 1;
  }

  private slot(left: number, right: number): number {
    return (Math.imul(left, 0x9e3779b1) ^ Math.imul(right + 0x7f4a7c15, 0x85ebca77)) >>> 0;
  }

  set(left: number, right: number, rank: number): void {
    for (let i = this.slot(left, right) & this.mask; ; i = (i + 1) & this.mask) {
      if (this.left[i] === -1 || (this.left[i] === left && this.right[i] === right)) {
        this.left[i] = left;
        this.right[i] = right;
        this.rank[i] = rank;
        return;
      }
    }
  }

  /** The rank, or Infinity for a pair that does not merge. */
  get(left: number, right: number): number {
    for (let i = this.slot(left, right) & this.mask; ; i = (i + 1) & this.mask) {
      const l = this.left[i];
      if (l === -1) return Infinity;
      if (l === left && this.right[i] === right) return this.rank[i];
    }
  }
}

export class ByteLevelBpe {
  private readonly encoder = new TextEncoder();
  private readonly ranks: PairRanks;
  /** Id of each merge's result, looked up the first time that merge is made (-1 before; -2: not in the vocabulary). */
  private readonly mergedId: Int32Array;
  /** Byte → the id of its one-character token. */
  private readonly byteId = new Int32Array(256);
  private readonly byteChar: string[] = [];
  // Scratch space, reused: symbols and the rank of each symbol's pair with its right neighbour.
  private syms = new Int32Array(64);
  private pairRank = new Float64Array(64);

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
    this.ranks = new PairRanks(model.merges.length);
    this.mergedId = new Int32Array(model.merges.length).fill(-1);
  }

  /** The fast path for this model and pre-tokenizer tail, or null when it would not be exact. */
  static create(model: BpeModelFields, tail: unknown[], addedTokens: Map<string, { id: number }>, isByteLevel: (step: unknown) => boolean): ByteLevelBpe | null {
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
    const ids = model.tokens_to_ids;
    for (let rank = 0; rank < model.merges.length; rank++) {
      const [a, b] = model.merges[rank];
      const left = ids.get(a);
      const right = ids.get(b);
      // A merge of a part outside the vocabulary never fires on vocabulary symbols: it cannot change a result.
      if (left !== undefined && right !== undefined) bpe.ranks.set(left, right, rank); // a repeated merge keeps its last rank, as the library's Map
    }
    return bpe;
  }

  /** The ids the library gives `piece` after the ByteLevel step, or null to let the library do it. */
  encode(piece: string): Int32Array | null {
    const text = this.byteLevel.add_prefix_space && !piece.startsWith(" ") ? " " + piece : piece;
    const bytes = this.encoder.encode(text);
    const n = bytes.length;
    if (n === 0) return new Int32Array(0);
    if (n > MAX_BYTES) return null;
    if (this.model.ignore_merges) {
      let word = "";
      for (let i = 0; i < n; i++) word += this.byteChar[bytes[i]];
      const whole = this.model.tokens_to_ids.get(word);
      if (whole !== undefined) return Int32Array.of(this.idOverride.get(whole) ?? whole);
    }
    if (n > this.syms.length) {
      this.syms = new Int32Array(n);
      this.pairRank = new Float64Array(n);
    }
    const syms = this.syms;
    const pairRank = this.pairRank;
    for (let i = 0; i < n; i++) syms[i] = this.byteId[bytes[i]];
    for (let i = 0; i + 1 < n; i++) pairRank[i] = this.ranks.get(syms[i], syms[i + 1]);
    let len = n;
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < len; i++) {
        if (pairRank[i] < bestRank) {
          bestRank = pairRank[i];
          best = i;
        }
      }
      if (best < 0) break;
      const merged = this.merged(bestRank);
      if (merged < 0) return null; // the merged string is not a vocabulary token: the library's way
      syms[best] = merged;
      for (let i = best + 1; i + 1 < len; i++) {
        syms[i] = syms[i + 1];
        pairRank[i] = pairRank[i + 1];
      }
      len--;
      if (best > 0) pairRank[best - 1] = this.ranks.get(syms[best - 1], syms[best]);
      if (best + 1 < len) pairRank[best] = this.ranks.get(syms[best], syms[best + 1]);
    }
    const out = syms.slice(0, len);
    if (this.idOverride.size > 0) for (let i = 0; i < len; i++) out[i] = this.idOverride.get(out[i]) ?? out[i];
    return out;
  }

  private merged(rank: number): number {
    let id = this.mergedId[rank];
    if (id === -1) {
      const [a, b] = this.model.merges[rank];
      id = this.mergedId[rank] = this.model.tokens_to_ids.get(a + b) ?? -2;
    }
    return id;
  }
}
