/**
 * A piece → ids table in one SharedArrayBuffer, filled by every worker of a pool and read by all.
 *
 * Why: each worker's own cache (cached-encoder.ts) starts empty, and on a cold corpus the misses
 * are most of the work (Brown, llama3: 55 k distinct pieces, ~60 % of a cold pass). Two workers
 * that each see half the text miss on ~38 k pieces each, 1.4× the one worker's total, so the pool
 * cannot scale. With this table a worker's local miss first looks here; a piece another worker
 * already encoded costs a hash, a compare and a copy instead of a BPE run. Only local misses
 * touch the table, so a warm worker never does.
 *
 * Layout (32-bit words): [0] arena cursor, [1] entries claimed, [2] slot count, then the slots (word
 * index of an entry, 0 = empty), then the arena. An entry is [hash, key length, id count, cache index,
 * ids…, key (UTF-16, two units per word)…].
 *
 * Correctness does not depend on timing: a writer reserves arena space with Atomics.add (no two
 * writers share words), writes the whole entry, and only then publishes its index into an empty
 * slot with Atomics.compareExchange. A reader finds the slot with Atomics.load; sequentially
 * consistent atomics order the writer's plain stores before its publish and the reader's plain
 * loads after it (ECMAScript memory model, §29: synchronizes-with), so an entry is either complete
 * or absent. Every entry holds exactly what the encoding function gives that piece, so which worker
 * wrote it, or whether a racing duplicate was dropped, cannot change an id. The table never
 * deletes: when the slots (at half load, so probing ends) or the arena run out it stops growing,
 * and misses are simply computed, as without it.
 */

/** Header words before the slots. */
const HEADER = 3;
const CURSOR = 0;
const CLAIMED = 1;
const SLOTS = 2;
/** Words of an entry before its ids. */
const ENTRY_HEADER = 4;

export interface SharedCacheOptions {
  /** Slots (a power of two); at most half of them are filled. Default 2^18 (1 MB). */
  readonly slots?: number;
  /** Arena size in bytes. Default 8 MB: ~200 k pieces; only the pages written become resident. */
  readonly arenaBytes?: number;
}

/** FNV-1a over the UTF-16 units and the cache index, then a finalizer (murmur3 fmix32) to spread the low bits used as slot index. */
export function pieceHash(piece: string, cacheIndex: number): number {
  let h = 0x811c9dc5 ^ cacheIndex;
  for (let i = 0; i < piece.length; i++) h = Math.imul(h ^ piece.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}

export class SharedPieceCache {
  private readonly words: Int32Array;
  private readonly units: Uint16Array;
  private readonly mask: number;
  private readonly maxEntries: number;

  /** A view of `buffer` (made by `SharedPieceCache.allocate`), in any thread. */
  constructor(readonly buffer: SharedArrayBuffer) {
    this.words = new Int32Array(buffer);
    this.units = new Uint16Array(buffer);
    const slots = this.words[SLOTS];
    this.mask = slots - 1;
    this.maxEntries = slots >>> 1;
  }

  /** A new, empty table's buffer, to hand to workers (workerData or postMessage share it, not copy). */
  static allocate(options: SharedCacheOptions = {}): SharedArrayBuffer {
    const slots = options.slots ?? 1 << 18;
    if (!(slots >= 2 && (slots & (slots - 1)) === 0)) throw new RangeError(`slots must be a power of two, got ${slots}`);
    const arenaWords = Math.floor((options.arenaBytes ?? 8 << 20) / 4);
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

  /** The ids stored for `piece` (a number when it is one id), or undefined. `hash` is pieceHash(piece, cacheIndex). */
  get(piece: string, cacheIndex: number, hash: number): number | Int32Array | undefined {
    const words = this.words;
    for (let i = hash & this.mask; ; i = (i + 1) & this.mask) {
      const at = Atomics.load(words, HEADER + i);
      if (at === 0) return undefined;
      if (this.matches(at, piece, cacheIndex, hash)) {
        const count = words[at + 2];
        const ids = at + ENTRY_HEADER;
        return count === 1 ? words[ids] : words.slice(ids, ids + count);
      }
    }
  }

  /** Store `ids` for `piece` unless it is there already or the table is full. */
  set(piece: string, cacheIndex: number, hash: number, ids: number | Int32Array): void {
    const words = this.words;
    // A full table is left alone: the cursor then moves at most once per racing writer, never wraps.
    if (Atomics.load(words, CLAIMED) >= this.maxEntries || Atomics.load(words, CURSOR) >= words.length) return;
    // Claim an entry first (released again if this one is not published): published ≤ maxEntries, so probing ends.
    if (Atomics.add(words, CLAIMED, 1) >= this.maxEntries) return void Atomics.sub(words, CLAIMED, 1);
    const count = typeof ids === "number" ? 1 : ids.length;
    const size = ENTRY_HEADER + count + ((piece.length + 1) >>> 1);
    const at = Atomics.add(words, CURSOR, size);
    if (at + size > words.length) return void Atomics.sub(words, CLAIMED, 1); // the arena is full
    words[at] = hash;
    words[at + 1] = piece.length;
    words[at + 2] = count;
    words[at + 3] = cacheIndex;
    if (typeof ids === "number") words[at + ENTRY_HEADER] = ids;
    else words.set(ids, at + ENTRY_HEADER);
    const units = this.units;
    const key = 2 * (at + ENTRY_HEADER + count);
    for (let k = 0; k < piece.length; k++) units[key + k] = piece.charCodeAt(k);
    for (let i = hash & this.mask; ; i = (i + 1) & this.mask) {
      const seen = Atomics.compareExchange(words, HEADER + i, 0, at);
      if (seen === 0) return; // published
      // Another worker stored it first: ours stays unpublished (its arena words are lost) and unclaimed.
      if (this.matches(seen, piece, cacheIndex, hash)) return void Atomics.sub(words, CLAIMED, 1);
    }
  }

  private matches(at: number, piece: string, cacheIndex: number, hash: number): boolean {
    const words = this.words;
    if (words[at] !== hash || words[at + 1] !== piece.length || words[at + 3] !== cacheIndex) return false;
    const units = this.units;
    const key = 2 * (at + ENTRY_HEADER + words[at + 2]);
    for (let k = 0; k < piece.length; k++) if (units[key + k] !== piece.charCodeAt(k)) return false;
    return true;
  }
}
