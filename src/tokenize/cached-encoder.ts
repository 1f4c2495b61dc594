/**
 * The same token ids as `@huggingface/tokenizers`' `encode(text, {add_special_tokens: false})`,
 * several times faster: a pre-token → ids cache in front of the library's pre-tokenizer tail and model.
 *
 * The library's pipeline (Tokenizer.encode_text, v0.2) is: split the text on added tokens →
 * normalizer → split on normalized added tokens → pre-tokenizer → model → post-processor → ids.
 * Two facts make a cache exact:
 *   1. A `Sequence` pre-tokenizer applies each step to every piece of the previous step
 *      independently (`pre_tokenize` is a flat-map), so the output of steps 2..k on the pieces of
 *      step 1 is the concatenation of their output on each piece alone.
 *   2. A BPE / WordPiece model encodes each pre-token independently, except that `fuse_unk`
 *      joins a run of unk ids within one model call; the run is re-joined across pieces here.
 * So `piece of step 1 → ids` is a pure function, and pieces follow Zipf's law: on Brown 97% of
 * lookups hit. By fact 1 again, leading regex Split steps can run inline one after another, and
 * the cache is keyed by the last one's pieces (deepseek_v3's first step only splits off digit runs,
 * so its pieces are long; its third splits words). For llama3 step 1 is the `Split` regex and step 2 the ByteLevel byte → char map,
 * so a hit skips the UTF-8 encoding, the byte map, the BPE merges and the per-token arrays; it
 * costs one regex step, one slice and one Map lookup. A lone ByteLevel step (claude) is keyed
 * by its regex match before the byte map, for the same reason. SentencePiece-style models take
 * whole sections; sentencepiece-bpe.ts cuts them where no merge can cross. Misses go to an id-based
 * BPE (byte-level-bpe.ts, sentencepiece-bpe.ts) or to the library's own objects.
 *
 * Everything else (added-token splitting with lstrip/rstrip, normalizer, `remove_space`,
 * lower-casing) is the library's code path, replayed with its own objects (library-internals.ts).
 * Configurations where the argument above does not hold (fuse_unk without an unk id, a model
 * other than BPE/WordPiece, a post-processor that could change tokens) get a reason string from
 * `CachedEncoder.create`, and the caller uses the plain library. Identity with the plain library
 * is tested on Brown, mails and code for nine real tokenizers, and by property tests.
 */
import { ByteLevelBpe, type BpeModelFields, type ByteLevelFields } from "./byte-level-bpe.js";
import { threadId } from "node:worker_threads";
import { pieceHash, PieceTable } from "./piece-table.js";
import { CharBpe, MarkerCuts, type CharBpeModelFields } from "./sentencepiece-bpe.js";
import {
  internalsProblems,
  lib,
  type AddedTokenLike,
  type PreTokenizerStep,
  type SequenceStep,
  type Splitter,
  type SplitStep,
  type TokenizerInternals,
} from "./library-internals.js";

/** Encoded documents, concatenated: document i is `ids[ends[i-1] .. ends[i])` (ends[-1] = 0). */
export interface EncodedBatch {
  readonly ids: Int32Array<ArrayBuffer>;
  readonly ends: Int32Array<ArrayBuffer>;
}

export interface CachedEncoderOptions {
  /** The piece table (piece-table.ts), shared with the other workers of a pool; default a new one of default size for this encoder alone. */
  readonly table?: PieceTable;
}

/** Pieces up to this many UTF-16 units are cached (the library's BPE cache uses the same bound). */
const MAX_CACHED_LENGTH = 256;

/** Why the cache cannot be used for this tokenizer, or null if it can. */
function unsupported(t: TokenizerInternals): string | null {
  const problems = internalsProblems(t);
  if (problems.length > 0) return `unrecognised @huggingface/tokenizers internals: ${problems.join("; ")}`;
  if (!(t.model instanceof lib.BPE || t.model instanceof lib.WordPiece)) return "model is neither BPE nor WordPiece";
  if (t.model.fuse_unk && !(t.model instanceof lib.BPE && typeof t.model.unk_token_id === "number")) return "fuse_unk without a BPE model and an unk id";
  if (!identityWithoutSpecialTokens(t.post_processor)) return "post-processor may change tokens";
  return null;
}

/** Post-processors that return the tokens unchanged for one sequence with add_special_tokens = false. */
function identityWithoutSpecialTokens(p: unknown): boolean {
  if (
    p === null ||
    p instanceof lib.ByteLevelPostProcessor ||
    p instanceof lib.BertProcessingPostProcessor ||
    p instanceof lib.RobertaProcessingPostProcessor
  ) {
    return true;
  }
  if (p instanceof lib.TemplateProcessingPostProcessor) {
    const single = (p as unknown as { config: { single?: unknown[] } }).config.single ?? [];
    const sequences = single.filter((item) => item !== null && typeof item === "object" && "Sequence" in item);
    const a = sequences.filter((item) => (item as { Sequence: { id: string } }).Sequence.id === "A");
    return sequences.length === 1 && a.length === 1;
  }
  if (p instanceof lib.SequencePostProcessor) {
    return (p as unknown as { processors: unknown[] }).processors.every(identityWithoutSpecialTokens);
  }
  return false;
}

function containsMetaspace(step: unknown): boolean {
  if (step instanceof lib.MetaspacePreTokenizer) return true;
  if (step instanceof lib.SequencePreTokenizer) return (step as SequenceStep).tokenizers.some(containsMetaspace);
  return false;
}

/** Advance past one code point (a zero-length match of a /u regex does this, as String.matchAll). */
function advance(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
    const d = text.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return i + 2;
  }
  return i + 1;
}

export class CachedEncoder {
  /** Pieces → their ids (piece-table.ts), keyed also by a cache index: 1 for a section after the first when `keyBySection`, else 0. */
  private readonly table: PieceTable;
  /** Tags the entries this encoder stores, so that statistics can tell its own hits from other workers'. */
  private readonly writer = nextWriter();
  /**
   * The leading regex Split steps with "Isolated" behaviour, run inline, one level per step: a
   * piece of step j is split by step j + 1 on its own (fact 1), and the pieces of the last of them
   * are the cache keys. (deepseek_v3: digit runs, then CJK runs, then words; keyed by words.)
   */
  private readonly splits: { readonly global: RegExp; readonly sticky: RegExp }[] = [];
  /** Regexes of the lone ByteLevel step (`byteLevelHead`). */
  private readonly global: RegExp | null = null;
  private readonly sticky: RegExp | null = null;
  /** Step 1 when it is a lone ByteLevel step with its regex: pieces are its raw matches (see the constructor). */
  private readonly byteLevelHead: (ByteLevelFields & { pattern: RegExp }) | null;
  private readonly utf8 = new TextEncoder();
  /** Step 1 otherwise (its pieces come back as an array), or null when there is no pre-tokenizer or it is inline (`splits`). */
  private readonly head: PreTokenizerStep | null;
  /** The steps after the cache key's step, applied to one piece on a cache miss. */
  private readonly tail: PreTokenizerStep[];
  /** A Metaspace in the tail reads `section_index === 0`: then that bit is part of the key. */
  private readonly keyBySection: boolean;
  /** First UTF-16 units of added tokens: a text without any of them needs no added-token split. */
  private readonly unnormalizedStarts: string[] | null;
  private readonly normalizedStarts: string[] | null;
  /** The id-based miss path, or null where it would not be exact. Built with the encoder: part of loading, like the library's own merge table. */
  private readonly fastBpe: ByteLevelBpe | null;
  /** The id-based miss path when pieces go to the model as they are (SentencePiece-style, or a lone ByteLevel step). */
  private readonly charBpe: CharBpe | null;
  /** SentencePiece-style models take whole sections: where those may be cut into cacheable pieces. */
  private readonly cuts: MarkerCuts | null;
  /**
   * With fuse_unk, the library's model call (one per section) joins a run of unknown tokens into
   * one; the run may span pieces. So a piece that starts with unk after one that ended with it
   * drops its first id. -1: no fusing.
   */
  private readonly unkId: number;
  private lastUnk = false;
  private out: Int32Array<ArrayBuffer> = new Int32Array(1 << 16);
  private length = 0;
  /** Lookups answered by pieces this encoder stored, by pieces another worker stored, and lookups that ran the model (for benchmarks and tests). */
  hits = 0;
  sharedHits = 0;
  misses = 0;

  private constructor(
    private readonly t: TokenizerInternals,
    options: CachedEncoderOptions,
  ) {
    this.table = options.table ?? new PieceTable(PieceTable.allocate());
    const pre = t.pre_tokenizer;
    let steps: PreTokenizerStep[];
    if (pre === null) steps = [];
    else if (pre instanceof lib.SequencePreTokenizer) steps = (pre as unknown as SequenceStep).tokenizers.filter((s) => s !== null);
    else steps = [pre];
    for (const step of steps) {
      const split = step as SplitStep;
      if (!(split instanceof lib.SplitPreTokenizer && split.pattern !== null && !split.config.invert && split.config.behavior?.toLowerCase() !== "removed"))
        break;
      // Split.pre_tokenize_text → regex_split: matches and the gaps between them, in order.
      this.splits.push({
        global: new RegExp(split.pattern.source, split.pattern.flags),
        sticky: new RegExp(split.pattern.source, split.pattern.flags.replace("g", "") + "y"),
      });
    }
    const keyed = Math.max(1, this.splits.length);
    this.head = this.splits.length > 0 ? null : (steps[0] ?? null);
    this.tail = steps.slice(keyed);
    this.keyBySection = this.tail.some(containsMetaspace);
    const bpe = t.model instanceof lib.BPE;
    const byteLevelHead = (this.splits.length > 0 ? null : this.head) as (PreTokenizerStep & ByteLevelFields & { pattern: RegExp }) | null;
    if (
      bpe &&
      this.tail.length === 0 &&
      byteLevelHead instanceof lib.ByteLevelPreTokenizer &&
      byteLevelHead.use_regex &&
      byteLevelHead.pattern instanceof RegExp
    ) {
      // A lone ByteLevel step (GPT-2, claude): its regex's matches, byte-mapped, go to the model. The
      // cache is keyed by the match itself, so a hit skips the UTF-8 encoding and the byte map too.
      // (Its pattern has no empty match and leaves no gap, so String.match's pieces are this loop's.)
      this.byteLevelHead = byteLevelHead;
      this.global = new RegExp(byteLevelHead.pattern.source, byteLevelHead.pattern.flags);
      this.sticky = new RegExp(byteLevelHead.pattern.source, byteLevelHead.pattern.flags.replace("g", "") + "y");
      const mapOnly: ByteLevelFields = { add_prefix_space: false, use_regex: false, byte_encoder: byteLevelHead.byte_encoder };
      this.fastBpe = ByteLevelBpe.create(t.model as unknown as BpeModelFields, [mapOnly], t.added_tokens_map, () => true);
      this.charBpe = null;
      this.cuts = null;
    } else {
      this.byteLevelHead = null;
      this.fastBpe = bpe
        ? ByteLevelBpe.create(t.model as unknown as BpeModelFields, this.tail, t.added_tokens_map, (s) => s instanceof lib.ByteLevelPreTokenizer)
        : null;
      // Only where a piece is the model's input as it is: no later pre-tokenizer step changes it.
      const direct = bpe && this.tail.length === 0;
      this.charBpe = direct && this.fastBpe === null ? CharBpe.create(t.model as unknown as CharBpeModelFields) : null;
      this.cuts = direct ? MarkerCuts.create(t.model as unknown as CharBpeModelFields) : null;
    }
    this.unkId = t.model.fuse_unk ? (t.model.unk_token_id as number) : -1;
    this.unnormalizedStarts = starts(t.splitter_unnormalized);
    this.normalizedStarts = starts(t.splitter_normalized);
  }

  /** A cached encoder for `tokenizer`, or the reason it cannot have one. */
  static create(tokenizer: object, options: CachedEncoderOptions = {}): CachedEncoder | string {
    const why = CachedEncoder.unsupported(tokenizer);
    return why === null ? new CachedEncoder(tokenizer as unknown as TokenizerInternals, options) : why;
  }

  /** Why `tokenizer` cannot have a cached encoder, or null if it can (cheap: no tables built). */
  static unsupported(tokenizer: object): string | null {
    return unsupported(tokenizer as unknown as TokenizerInternals);
  }

  /** How misses are encoded: "ids" (byte-level-bpe.ts) or "library" (the library's own steps and model). */
  get missPath(): "ids" | "library" {
    return this.fastBpe === null && this.charBpe === null ? "library" : "ids";
  }

  /** Number of pieces in the table (with a pool's table, every worker's). */
  get size(): number {
    return this.table.size;
  }

  /** Ids of one text, then `appendId` if given, as a fresh array of exactly that length. */
  encode(text: string, appendId?: number): Int32Array {
    this.length = 0;
    this.encodeText(text);
    if (appendId !== undefined) this.push(appendId);
    const ids = this.out.slice(0, this.length);
    this.release();
    return ids;
  }

  /** All texts' ids (each followed by `appendId` if given) in one array plus end offsets. */
  encodeBatch(texts: readonly string[], appendId?: number): EncodedBatch {
    this.length = 0;
    const ends = new Int32Array(texts.length);
    for (let i = 0; i < texts.length; i++) {
      this.encodeText(texts[i]);
      if (appendId !== undefined) this.push(appendId);
      ends[i] = this.length;
    }
    const ids = this.out.slice(0, this.length);
    this.release();
    return { ids, ends };
  }

  /** After a huge document, give the scratch buffer back rather than keep it for the thread's life. */
  private release(): void {
    if (this.out.length > 1 << 22) this.out = new Int32Array(1 << 16);
  }

  private push(id: number): void {
    if (this.length === this.out.length) this.grow(1);
    this.out[this.length++] = id;
  }

  private grow(extra: number): void {
    const next = new Int32Array(Math.max(this.out.length * 2, this.length + extra));
    next.set(this.out.subarray(0, this.length));
    this.out = next;
  }

  /** Tokenizer.encode_text, with the model call replaced by `encodePieces`. */
  private encodeText(text: string): void {
    const t = this.t;
    const sections = splitOnAddedTokens(t.splitter_unnormalized, this.unnormalizedStarts, text);
    if (sections.length > 1) stripAround(sections, t.added_tokens_map);
    for (let section_index = 0; section_index < sections.length; section_index++) {
      let processed = sections[section_index];
      if (processed.length === 0) continue;
      const added = t.added_tokens_map.get(processed);
      if (added !== undefined) {
        this.push(added.id);
        continue;
      }
      if (t.remove_space === true) processed = processed.trim().split(/\s+/).join(" ");
      if (t.do_lowercase_and_remove_accent) processed = processed.toLowerCase().replace(/\p{M}/gu, "");
      if (t.normalizer !== null) processed = t.normalizer(processed);
      if (processed.length === 0) continue;
      if (!mayContain(processed, this.normalizedStarts)) {
        // No normalized added token can start here, so the library's split gives [processed]; but
        // it then still looks the whole of it up among *all* added tokens: NFKC turns "＜ＥＯＴ＞"
        // into "<EOT>", an added token that the split before normalization never saw.
        const whole = t.added_tokens_map.get(processed);
        if (whole !== undefined) this.push(whole.id);
        else this.encodeSection(processed, section_index);
        continue;
      }
      const subsections = splitOnAddedTokens(t.splitter_normalized, this.normalizedStarts, processed);
      if (subsections.length > 1) stripAround(subsections, t.added_tokens_map);
      for (const sub of subsections) {
        if (sub.length === 0) continue;
        const subAdded = t.added_tokens_map.get(sub);
        if (subAdded !== undefined) this.push(subAdded.id);
        else this.encodeSection(sub, section_index);
      }
    }
  }

  /** Pre-tokenizer step 1 on one section, then every piece through the cache. */
  private encodeSection(text: string, section_index: number): void {
    this.lastUnk = false;
    const cache = this.keyBySection && section_index !== 0 ? 1 : 0;
    if (this.byteLevelHead !== null)
      return this.encodeMatches(this.byteLevelHead.add_prefix_space && !text.startsWith(" ") ? " " + text : text, cache, section_index);
    if (this.splits.length === 0) {
      const pieces = this.head === null ? [text] : this.head.pre_tokenize_text(text, { section_index });
      for (const piece of pieces) this.encodePiece(piece, 0, piece.length, cache, section_index);
      return;
    }
    this.splitLevel(text, 0, cache, section_index);
  }

  /**
   * A piece text[start, end) of inline split step `level`: split further by the next step (as a
   * string of its own, so that the next regex cannot look past it), or, after the last, through the cache.
   */
  private emit(text: string, start: number, end: number, level: number, cache: number, section_index: number): void {
    if (level + 1 < this.splits.length) this.splitLevel(start === 0 && end === text.length ? text : text.slice(start, end), level + 1, cache, section_index);
    else this.encodePiece(text, start, end, cache, section_index);
  }

  /**
   * regex_split(text, pattern of split step `level`), without its arrays, each piece to `emit`. A
   * match at `pos` found by the sticky regex is the match a global search from `pos` would return;
   * when there is none (a gap, or an empty match), the global search decides, exactly as
   * String.matchAll does.
   */
  private splitLevel(text: string, level: number, cache: number, section_index: number): void {
    const { global, sticky } = this.splits[level];
    const n = text.length;
    let pos = 0;
    while (pos < n) {
      sticky.lastIndex = pos;
      if (sticky.test(text) && sticky.lastIndex > pos) {
        const end = sticky.lastIndex;
        this.emit(text, pos, end, level, cache, section_index);
        pos = end;
        continue;
      }
      global.lastIndex = pos;
      const m = global.exec(text);
      if (m === null) {
        this.emit(text, pos, n, level, cache, section_index); // the trailing gap
        break;
      }
      if (m.index > pos) this.emit(text, pos, m.index, level, cache, section_index);
      const len = m[0].length;
      if (len > 0) this.emit(text, m.index, m.index + len, level, cache, section_index);
      // After an empty match regex_split's `prev` stays at m.index while the search moves on.
      pos = len > 0 ? m.index + len : this.resumeAfterEmpty(text, m.index, advance(text, m.index), level, cache, section_index);
    }
  }

  /** String.match(pattern) over the text, each match a piece (a lone ByteLevel step's split). */
  private encodeMatches(text: string, cache: number, section_index: number): void {
    const sticky = this.sticky as RegExp;
    const global = this.global as RegExp;
    const n = text.length;
    for (let pos = 0; pos < n;) {
      sticky.lastIndex = pos;
      if (sticky.test(text) && sticky.lastIndex > pos) {
        const end = sticky.lastIndex;
        this.encodePiece(text, pos, end, cache, section_index);
        pos = end;
        continue;
      }
      // Not reached with the library's pattern; what String.match would do: skip to the next match.
      global.lastIndex = pos;
      const m = global.exec(text);
      if (m === null) return;
      if (m[0].length > 0) this.encodePiece(text, m.index, m.index + m[0].length, cache, section_index); // an empty match's token is "": no ids
      pos = m[0].length > 0 ? m.index + m[0].length : advance(text, m.index);
    }
  }

  /**
   * After an empty match at `from`, String.matchAll continues at `next`; the characters from
   * `from` up to the next non-empty match (or its next empty match) form one gap piece.
   */
  private resumeAfterEmpty(text: string, from: number, next: number, level: number, cache: number, section_index: number): number {
    const global = this.splits[level].global;
    let search = next;
    for (;;) {
      if (search > text.length) {
        if (from < text.length) this.emit(text, from, text.length, level, cache, section_index);
        return text.length;
      }
      global.lastIndex = search;
      const m = global.exec(text);
      if (m === null) {
        if (from < text.length) this.emit(text, from, text.length, level, cache, section_index);
        return text.length;
      }
      if (m.index > from) this.emit(text, from, m.index, level, cache, section_index);
      if (m[0].length > 0) {
        this.emit(text, m.index, m.index + m[0].length, level, cache, section_index);
        return m.index + m[0].length;
      }
      from = m.index;
      search = advance(text, m.index);
    }
  }

  /** One model input, text[start, end): through the cache whole, or cut where no merge can cross (sentencepiece-bpe.ts). */
  private encodePiece(text: string, start: number, end: number, cache: number, section_index: number): void {
    const cuts = this.cuts;
    if (cuts === null) return this.encodeCached(text, start, end, cache, section_index);
    for (let from = start; from < end;) {
      const to = Math.min(cuts.next(text, from), end);
      if (to - from <= MAX_CACHED_LENGTH) this.encodeCached(text, from, to, cache, section_index);
      else {
        // Too long to cache or to merge fast: cut wherever no merge rule spans the two code points.
        for (let at = from; at < to;) {
          const next = cuts.nextAnywhere(text, at, to);
          this.encodeCached(text, at, next, cache, section_index);
          at = next;
        }
      }
      from = to;
    }
  }

  /**
   * The ids of text[start, end): copied out of the piece table when it is there (no allocation),
   * else the model's, stored in the table for every worker. A piece over 256 units is rare, and
   * would fill the table with text: the model encodes it each time.
   */
  private encodeCached(text: string, start: number, end: number, cache: number, section_index: number): void {
    const table = this.table;
    const cacheable = end - start <= MAX_CACHED_LENGTH;
    const hash = cacheable ? pieceHash(text, cache, start, end) : 0;
    const entry = cacheable ? table.find(text, start, end, cache, hash) : 0;
    if (entry !== 0) {
      if (table.writerOf(entry) === this.writer) this.hits++;
      else this.sharedHits++;
      return this.append(table.words, table.firstId(entry), table.idCount(entry));
    }
    this.misses++;
    let ids = this.modelIds(start === 0 && end === text.length ? text : text.slice(start, end), section_index);
    // fuse_unk within the piece here; across pieces in `append`.
    if (this.unkId >= 0) ids = fuseRuns(ids, this.unkId);
    if (cacheable) table.set(text, start, end, cache, hash, ids, this.writer);
    this.append(ids, 0, ids.length);
  }

  /** Append `count` ids from `source[from]`; with fuse_unk, an unk at their start joins an unk that ended the previous piece. */
  private append(source: Int32Array, from: number, count: number): void {
    if (count === 0) return;
    const unk = this.unkId;
    if (unk >= 0) {
      const skip = this.lastUnk && source[from] === unk ? 1 : 0;
      this.lastUnk = source[from + count - 1] === unk;
      from += skip;
      count -= skip;
    }
    if (this.length + count > this.out.length) this.grow(count);
    const out = this.out;
    for (let k = 0; k < count; k++) out[this.length + k] = source[from + k];
    this.length += count;
  }

  /** The library's own steps 2..k, model and token → id mapping (Tokenizer.encode) for one piece. */
  private modelIds(piece: string, section_index: number): Int32Array {
    const t = this.t;
    const fast = this.fastBpe !== null ? this.fastBpe.encode(piece) : this.charBpe !== null ? this.charBpe.encode(piece) : null;
    if (fast) return fast;
    const head = this.byteLevelHead;
    // A raw match of a lone ByteLevel step: the library maps its UTF-8 bytes to characters first.
    let pretokens = head === null ? [piece] : [Array.from(this.utf8.encode(piece), (b) => head.byte_encoder[b]).join("")];
    for (const step of this.tail) pretokens = step.pre_tokenize(pretokens, { section_index });
    const tokens = t.model(pretokens);
    const ids = new Int32Array(tokens.length);
    for (let i = 0; i < tokens.length; i++) {
      // Undefined (no unk token) is stored as 0, as the Int32Array copy of the plain path does.
      ids[i] = (t.added_tokens_map.get(tokens[i])?.id ?? t.model.tokens_to_ids.get(tokens[i]) ?? t.model.unk_token_id) as number;
    }
    return ids;
  }
}

/** A tag for each encoder's entries in the piece table, unique within the process (statistics only). */
let encoders = 0;
function nextWriter(): number {
  return ((threadId & 0xfffff) << 9) | (encoders++ & 0x1ff);
}

/** A run of unk ids as one (the library's fuse_unk within one model call); the array itself when there is none. */
function fuseRuns(ids: Int32Array, unk: number): Int32Array {
  let runs = 0;
  for (let i = 1; i < ids.length; i++) if (ids[i] === unk && ids[i - 1] === unk) runs++;
  if (runs === 0) return ids;
  const out = new Int32Array(ids.length - runs);
  let n = 0;
  for (let i = 0; i < ids.length; i++) if (!(ids[i] === unk && i > 0 && ids[i - 1] === unk)) out[n++] = ids[i];
  return out;
}

/** The first UTF-16 units of a splitter's words; null when there are too many to test one by one. */
function starts(splitter: Splitter): string[] | null {
  const keys = Object.keys(splitter.trie);
  return keys.length <= 8 ? keys : null;
}

/**
 * DictionarySplitter.split(text) (the library's added-token split), without its walk from every
 * character: that walk starts a trie lookup at each position and finds nothing where the
 * character is not a first unit of some added token, so starting only at those positions (found
 * with indexOf) gives the same sections. On mails and code, where "<" is everywhere and "<|" rare,
 * the library's walk was ~9 % of a cold pass. `firsts` null: too many first units, the library's own.
 */
function splitOnAddedTokens(splitter: Splitter, firsts: string[] | null, text: string): string[] {
  if (firsts === null) return splitter.split(text);
  const n = text.length;
  const candidates = new NextCandidate(text, firsts);
  const result: string[] = [];
  let start = 0;
  for (let i = candidates.from(0); i < n;) {
    let node: Record<string, unknown> | undefined = splitter.trie;
    let match: string | null = null;
    for (let j = i; j < n && (node = node[text[j]] as Record<string, unknown> | undefined) !== undefined; j++) if (node.end) match = node.end as string;
    if (match === null) {
      i = candidates.from(i + 1);
      continue;
    }
    if (i > start) result.push(text.slice(start, i));
    result.push(match);
    i += match.length;
    start = i;
    i = candidates.from(i);
  }
  if (start < n) result.push(start === 0 ? text : text.slice(start));
  return result;
}

/**
 * The next position holding one of `firsts`. Each first unit's next occurrence is remembered and
 * searched again only once passed, so a text is scanned once per first unit in all, however many
 * candidates it has (a unit that never occurs is not searched for again at every other one's).
 */
class NextCandidate {
  private readonly at: number[];

  constructor(
    private readonly text: string,
    private readonly firsts: string[],
  ) {
    this.at = firsts.map(() => -1);
  }

  /** The first position ≥ from holding one of `firsts`, or text.length; `from` never decreases between calls. */
  from(from: number): number {
    const n = this.text.length;
    let next = n;
    for (let k = 0; k < this.firsts.length; k++) {
      if (this.at[k] < from) {
        const found = this.text.indexOf(this.firsts[k], from);
        this.at[k] = found < 0 ? n : found;
      }
      if (this.at[k] < next) next = this.at[k];
    }
    return next;
  }
}

function mayContain(text: string, firsts: string[] | null): boolean {
  if (firsts === null) return true;
  for (const c of firsts) if (text.includes(c)) return true;
  return false;
}

/** Added tokens with lstrip / rstrip trim their neighbours (Tokenizer.encode_text). */
function stripAround(sections: string[], added: Map<string, AddedTokenLike>): void {
  sections.forEach((section, i) => {
    const token = added.get(section);
    if (token === undefined) return;
    if (token.lstrip && i > 0) sections[i - 1] = sections[i - 1].trimEnd();
    if (token.rstrip && i < sections.length - 1) sections[i + 1] = sections[i + 1].trimStart();
  });
}
