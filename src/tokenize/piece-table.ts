/**
 * The tokenizer's piece → ids cache: one open-addressing hash table in a SharedArrayBuffer, read and
 * filled by every thread that holds it (a pool's workers share one; a lone encoder has its own).
 *
 * Why a table of 32-bit words and not a `Map<string, ids>`: on Brown (llama3, one thread) a
 * pass through this table is 1.3-1.5× faster than through a Map, cold and warm. A hit copies ids
 * out of the table and allocates nothing, a stored piece is a few words in an arena rather than a
 * string and an array for the garbage collector to trace and promote, and one table serves every
 * worker: what one has encoded, no other runs through the model again, and no piece is stored once
 * per worker. (Two workers with their own caches each miss on ~38 k of Brown's 55 k distinct pieces,
 * 1.4× one worker's total: a pool cannot scale on a cold corpus that way.)
 *
 * Layout (32-bit words): [0] arena cursor, [1] entries claimed, [2] slot count, then the slots (word
 * index of an entry, 0 = empty), then the arena. An entry is [hash, key length, id count, tag, ids…,
 * key (UTF-16, two units per word)…]; the tag is the key's cache index (bit 0) and which encoder
 * wrote it (the rest; statistics only).
 *
 * Correctness does not depend on timing: a writer reserves arena space with Atomics.add (no two
 * writers share words), writes the whole entry, and only then publishes its index into an empty
 * slot with Atomics.compareExchange. A reader finds the slot with Atomics.load; sequentially
 * consistent atomics order the writer's plain stores before its publish and the reader's plain
 * loads after it (ECMAScript memory model, §29: synchronizes-with), so an entry is either complete
 * or absent. Every entry holds exactly what the encoding function gives that piece, so which thread
 * wrote it, or whether a racing duplicate was dropped, cannot change an id.
 *
 * The table never deletes: when the slots (at half load, so probing ends) or the arena run out it
 * stops growing, and later pieces are computed each time they occur. Pieces follow Zipf's law and
 * every domain is mixed in from the first step, so the pieces met first include nearly all the
 * frequent ones; keeping them beats clearing the table and refilling it (what a per-thread Map
 * did), and a table that only grows needs no coordination between threads.
 */

/** Header words before the slots. */
const HEADER = 3;
const CURSOR = 0;
const CLAIMED = 1;
const SLOTS = 2;
/** Words of an entry before its ids: hash, key length, id count, tag. */
const ENTRY_HEADER = 4;

export interface PieceTableOptions {
  /** Slots (a power of two); at most half of them are filled. Default 2^20 (4 MB): 512 k pieces. */
  readonly slots?: number;
  /** Arena size in bytes. Default 32 MB: ~800 k pieces of Brown's mean size; only the pages written become resident. */
  readonly arenaBytes?: number;
}

/** FNV-1a over text[start, end) and the cache index, then a finalizer (murmur3 fmix32) to spread the low bits used as slot index. */
export function pieceHash(text: string, cacheIndex: number, start = 0, end = text.length): number {
  let h = 0x811c9dc5 ^ cacheIndex;
  for (let i = start; i < end; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}

export class PieceTable {
  /** The table's words: an entry's ids are `words[entry + 4 .. entry + 4 + idCount(entry))`. */
  readonly words: Int32Array;
  private readonly units: Uint16Array;
  private readonly mask: number;
  private readonly maxEntries: number;

  /** A view of `buffer` (made by `PieceTable.allocate`), in any thread. */
  constructor(readonly buffer: SharedArrayBuffer) {
    this.words = new Int32Array(buffer);
    this.units = new Uint16Array(buffer);
    const slots = this.words[SLOTS];
    this.mask = slots - 1;
    this.maxEntries = slots >>> 1;
  }

  /** A new, empty table's buffer, to hand to workers (workerData or postMessage share it, not copy). */
  static allocate(options: PieceTableOptions = {}): SharedArrayBuffer {
    const slots = options.slots ?? 1 << 20;
    if (!(slots >= 2 && (slots & (slots - 1)) === 0)) throw new RangeError(`slots must be a power of two, got ${slots}`);
    const arenaWords = Math.floor((options.arenaBytes ?? 32 << 20) / 4);
    const buffer = new SharedArrayBuffer(4 * (HEADER + slots + arenaWords));
    // The cursor starts at the arena: entry indices are then never 0, which marks an empty slot.
    const words = new Int32Array(buffer);
    words[CURSOR] = HEADER + slots;
    words[SLOTS] = slots;
    return buffer;
  }

  /** Entries published so far (while others write, counting the ones being written). */
  get size(): number {
    return Atomics.load(this.words, CLAIMED);
  }

  /** The entry of text[start, end) under `cacheIndex`, or 0. `hash` is pieceHash(text, cacheIndex, start, end). */
  find(text: string, start: number, end: number, cacheIndex: number, hash: number): number {
    const words = this.words;
    for (let i = hash & this.mask; ; i = (i + 1) & this.mask) {
      const at = Atomics.load(words, HEADER + i);
      if (at === 0 || this.matches(at, text, start, end, cacheIndex, hash)) return at;
    }
  }

  /** How many ids the entry holds; they start at `words[entry + 4]` (`firstId`). */
  idCount(entry: number): number {
    return this.words[entry + 2];
  }

  /** Word index of the entry's first id. */
  firstId(entry: number): number {
    return entry + ENTRY_HEADER;
  }

  /** The encoder that stored the entry (the `writer` given to `set`). */
  writerOf(entry: number): number {
    return this.words[entry + 3] >>> 1;
  }

  /** The ids stored for `piece` (a number when it is one id), or undefined: `find`, as a value. */
  get(piece: string, cacheIndex: number, hash: number): number | Int32Array | undefined {
    const at = this.find(piece, 0, piece.length, cacheIndex, hash);
    if (at === 0) return undefined;
    const count = this.idCount(at);
    return count === 1 ? this.words[at + ENTRY_HEADER] : this.words.slice(at + ENTRY_HEADER, at + ENTRY_HEADER + count);
  }

  /**
   * Store `ids` for text[start, end) unless it is there already or the table is full. `writer`
   * (below 2^30) only tells statistics which encoder stored it.
   */
  set(text: string, start: number, end: number, cacheIndex: number, hash: number, ids: ArrayLike<number>, writer = 0): void {
    const words = this.words;
    // A full table is left alone: the cursor then moves at most once per racing writer, never wraps.
    if (Atomics.load(words, CLAIMED) >= this.maxEntries || Atomics.load(words, CURSOR) >= words.length) return;
    // Claim an entry first (released again if this one is not published): published ≤ maxEntries, so probing ends.
    if (Atomics.add(words, CLAIMED, 1) >= this.maxEntries) return void Atomics.sub(words, CLAIMED, 1);
    const length = end - start;
    const count = ids.length;
    const size = ENTRY_HEADER + count + ((length + 1) >>> 1);
    const at = Atomics.add(words, CURSOR, size);
    if (at + size > words.length) return void Atomics.sub(words, CLAIMED, 1); // the arena is full
    words[at] = hash;
    words[at + 1] = length;
    words[at + 2] = count;
    words[at + 3] = (writer << 1) | cacheIndex;
    for (let k = 0; k < count; k++) words[at + ENTRY_HEADER + k] = ids[k];
    const units = this.units;
    const key = 2 * (at + ENTRY_HEADER + count);
    for (let k = 0; k < length; k++) units[key + k] = text.charCodeAt(start + k);
    for (let i = hash & this.mask; ; i = (i + 1) & this.mask) {
      const seen = Atomics.compareExchange(words, HEADER + i, 0, at);
      if (seen === 0) return; // published
      // Another thread stored it first: ours stays unpublished (its arena words are lost) and unclaimed.
      if (this.matches(seen, text, start, end, cacheIndex, hash)) return void Atomics.sub(words, CLAIMED, 1);
    }
  }

  private matches(at: number, text: string, start: number, end: number, cacheIndex: number, hash: number): boolean {
    const words = this.words;
    const length = end - start;
    if (words[at] !== hash || words[at + 1] !== length || (words[at + 3] & 1) !== cacheIndex) return false;
    const units = this.units;
    const key = 2 * (at + ENTRY_HEADER + words[at + 2]) - start;
    for (let k = start; k < end; k++) if (units[key + k] !== text.charCodeAt(k)) return false;
    return true;
  }
}
