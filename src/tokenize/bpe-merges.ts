/**
 * BPE merging on token ids: the library's result (BPE.bpe, v0.2) without its strings.
 *
 * The library merges, among all adjacent pairs, the one of lowest merge rank, ties to the
 * leftmost (its heap scores are rank + position / length), until no pair has a rank. Here the
 * symbols are ids, a pair's rank comes from an open-addressing table keyed by (left, right), and
 * a merge's result is `mergedId[rank]`; the library instead builds a JSON string per pair lookup
 * and an object per symbol. That only works while every merge's parts and result are vocabulary
 * tokens, so `merge` gives up (returns -1) when a result is not one, and the caller takes the
 * library's path. The scan is quadratic in the symbol count, so callers bound it (MAX_SYMBOLS).
 */

/** Longer inputs go to the library, whose heap is O(n log n). */
export const MAX_SYMBOLS = 256;

/**
 * Merge pair → rank, open addressing over one typed array: 2 × 32-bit ids per key, no per-entry
 * objects (pairs of 17-bit ids do not fit a small integer, and a Map of heap-number keys is slow).
 * A slot's left id, right id and rank sit next to each other: the table is megabytes (llama3:
 * 280 k merges, 12 MB), so on a cold cache every probe is a memory access, and a lookup should
 * cost one cache line, not one per field.
 */
class PairRanks {
  /** Slot i is [left, right, rank] at 3i; left -1 = empty. */
  private readonly slots: Int32Array;
  private readonly mask: number;

  constructor(entries: number) {
    let capacity = 1024;
    while (capacity < entries * 2) capacity *= 2;
    this.slots = new Int32Array(3 * capacity).fill(-1);
    this.mask = capacity - 1;
  }

  private slot(left: number, right: number): number {
    return (Math.imul(left, 0x9e3779b1) ^ Math.imul(right + 0x7f4a7c15, 0x85ebca77)) >>> 0;
  }

  set(left: number, right: number, rank: number): void {
    const slots = this.slots;
    for (let i = this.slot(left, right) & this.mask; ; i = (i + 1) & this.mask) {
      const at = 3 * i;
      if (slots[at] === -1 || (slots[at] === left && slots[at + 1] === right)) {
        slots[at] = left;
        slots[at + 1] = right;
        slots[at + 2] = rank;
        return;
      }
    }
  }

  /** The rank, or Infinity for a pair that does not merge. */
  get(left: number, right: number): number {
    const slots = this.slots;
    for (let i = this.slot(left, right) & this.mask; ; i = (i + 1) & this.mask) {
      const at = 3 * i;
      const l = slots[at];
      if (l === -1) return Infinity;
      if (l === left && slots[at + 1] === right) return slots[at + 2];
    }
  }
}

export class BpeMerges {
  private readonly ranks: PairRanks;
  /** Id of each merge's result, looked up the first time that merge is made (-1 before; -2: not in the vocabulary). */
  private readonly mergedId: Int32Array;
  /** The rank of each symbol's pair with its right neighbour (scratch, reused). */
  private pairRank = new Float64Array(64);

  constructor(
    private readonly merges: readonly (readonly [string, string])[],
    private readonly ids: Map<string, number>,
  ) {
    this.ranks = new PairRanks(merges.length);
    this.mergedId = new Int32Array(merges.length).fill(-1);
    for (let rank = 0; rank < merges.length; rank++) {
      const [a, b] = merges[rank];
      const left = ids.get(a);
      const right = ids.get(b);
      // A merge of a part outside the vocabulary never fires on vocabulary symbols: it cannot change a result.
      if (left !== undefined && right !== undefined) this.ranks.set(left, right, rank); // a repeated merge keeps its last rank, as the library's Map
    }
  }

  /**
   * Merge `syms[0 .. n)` in place; the new length, or -1 when a merge's result is not a vocabulary
   * token (the library's strings would carry on; ids cannot).
   */
  merge(syms: Int32Array, n: number): number {
    if (n > this.pairRank.length) this.pairRank = new Float64Array(Math.max(n, 2 * this.pairRank.length));
    const pairRank = this.pairRank;
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
      if (best < 0) return len;
      const merged = this.merged(bestRank);
      if (merged < 0) return -1;
      syms[best] = merged;
      for (let i = best + 1; i + 1 < len; i++) {
        syms[i] = syms[i + 1];
        pairRank[i] = pairRank[i + 1];
      }
      len--;
      if (best > 0) pairRank[best - 1] = this.ranks.get(syms[best - 1], syms[best]);
      if (best + 1 < len) pairRank[best] = this.ranks.get(syms[best], syms[best + 1]);
    }
  }

  private merged(rank: number): number {
    let id = this.mergedId[rank];
    if (id === -1) {
      const [a, b] = this.merges[rank];
      id = this.mergedId[rank] = this.ids.get(a + b) ?? -2;
    }
    return id;
  }
}
