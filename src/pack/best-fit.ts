/**
 * Best-Fit Decreasing over integer lengths, O(n log L) with a capacity-indexed segment tree
 * (OBFD, arXiv:2404.10830 appendix B).
 *
 * Items are taken longest first (ties: lower index first, so the result is a pure function of
 * the input) and each goes into the open bin with the least room that still fits it; when no
 * bin fits, a new bin is opened. Among bins with equal room the one that has had that room the
 * longest wins (first in, first out per capacity), as in OLMo-core. Best fit keeps large holes
 * available for later items, which is why it reaches ~99.9% fill on document-length
 * distributions where concatenation would have to cut documents.
 */
import { CapacityTree } from "./segment-tree.js";
import type { PackItem, PackedRow } from "./types.js";

export interface BestFitResult {
  /** [n]: the bin each item went to. */
  readonly binOf: Int32Array;
  readonly binCount: number;
  /** [binCount]: tokens placed in each bin. */
  readonly binFill: Int32Array;
  /** [binCount + 1]: bin b holds items[binStart[b] .. binStart[b+1]) (CSR). */
  readonly binStart: Int32Array;
  /** [n]: item indices grouped by bin, in placement order within each bin. */
  readonly items: Int32Array;
  /** [n]: item indices in the order they were placed (decreasing length, stable). */
  readonly order: Int32Array;
}

/**
 * Reusable packer: keeps its tree and scratch arrays between calls, so packing a buffer costs
 * O(n log L + L) and allocates only the result.
 */
export class BestFitPacker {
  readonly capacity: number;
  private readonly tree: CapacityTree;
  /** Per capacity: first and last bin in its FIFO, -1 if none. */
  private readonly head: Int32Array;
  private readonly tail: Int32Array;
  /** Counting-sort scratch, all zero between calls. */
  private readonly counts: Int32Array;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`BestFitPacker: capacity must be a positive integer, got ${capacity}`);
    }
    this.capacity = capacity;
    this.tree = new CapacityTree(capacity);
    this.head = new Int32Array(capacity + 1).fill(-1);
    this.tail = new Int32Array(capacity + 1).fill(-1);
    this.counts = new Int32Array(capacity + 1);
  }

  /** Item indices by decreasing length, ties by increasing index (counting sort, O(n + L)). */
  decreasingOrder(lengths: Int32Array): Int32Array {
    const n = lengths.length;
    const cap = this.capacity;
    const counts = this.counts;
    for (let i = 0; i < n; i++) {
      const len = lengths[i];
      if (!(len >= 1 && len <= cap)) {
        counts.fill(0);
        throw new RangeError(`bestFitDecreasing: lengths[${i}] = ${len} is outside [1, ${cap}]`);
      }
      counts[len]++;
    }
    // counts[v] becomes the first output slot for length v, longest lengths first.
    let pos = 0;
    for (let v = cap; v >= 1; v--) {
      const c = counts[v];
      counts[v] = pos;
      pos += c;
    }
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[counts[lengths[i]]++] = i;
    counts.fill(0);
    return order;
  }

  pack(lengths: Int32Array): BestFitResult {
    const n = lengths.length;
    const cap = this.capacity;
    const order = this.decreasingOrder(lengths);
    const { tree, head, tail } = this;
    const binOf = new Int32Array(n);
    const fill = new Int32Array(n);
    const next = new Int32Array(n); // FIFO links between bins of equal room
    let binCount = 0;

    for (let k = 0; k < n; k++) {
      const item = order[k];
      const len = lengths[item];
      const room = tree.findMinAtLeast(len);
      let bin: number;
      let left: number;
      if (room < 0) {
        bin = binCount++;
        left = cap - len;
      } else {
        bin = head[room];
        const after = next[bin];
        head[room] = after;
        if (after < 0) tail[room] = -1;
        tree.remove(room);
        left = room - len;
      }
      fill[bin] += len;
      binOf[item] = bin;
      if (left > 0) {
        next[bin] = -1;
        const last = tail[left];
        if (last < 0) head[left] = bin;
        else next[last] = bin;
        tail[left] = bin;
        tree.insert(left);
      }
    }

    // Reset scratch in O(bins) so the next call starts clean.
    for (let b = 0; b < binCount; b++) {
      const left = cap - fill[b];
      head[left] = -1;
      tail[left] = -1;
    }
    tree.clear();

    // CSR grouping: walking `order` keeps placement order within each bin.
    const binStart = new Int32Array(binCount + 1);
    for (let i = 0; i < n; i++) binStart[binOf[i] + 1]++;
    for (let b = 0; b < binCount; b++) binStart[b + 1] += binStart[b];
    const cursor = binStart.slice(0, binCount);
    const items = new Int32Array(n);
    for (let k = 0; k < n; k++) {
      const item = order[k];
      items[cursor[binOf[item]]++] = item;
    }

    return { binOf, binCount, binFill: fill.slice(0, binCount), binStart, items, order };
  }
}

/** Pack `lengths` (each in [1, capacity]) into bins of `capacity` by best-fit decreasing. */
export function bestFitDecreasing(lengths: Int32Array, capacity: number): BestFitResult {
  return new BestFitPacker(capacity).pack(lengths);
}

/** The item indices of each bin, in placement order (views into `result.items`). */
export function binItems(result: BestFitResult): Int32Array[] {
  const out: Int32Array[] = new Array(result.binCount);
  for (let b = 0; b < result.binCount; b++) {
    out[b] = result.items.subarray(result.binStart[b], result.binStart[b + 1]);
  }
  return out;
}

/** Turn a packing of `items` (packed by their token lengths) into rows, bin order, placement order. */
export function rowsFromBins(result: BestFitResult, items: readonly PackItem[]): PackedRow[] {
  const rows: PackedRow[] = new Array(result.binCount);
  for (let b = 0; b < result.binCount; b++) {
    const start = result.binStart[b];
    const end = result.binStart[b + 1];
    const row: PackItem[] = new Array(end - start);
    for (let k = start; k < end; k++) row[k - start] = items[result.items[k]];
    rows[b] = { items: row };
  }
  return rows;
}
