/**
 * A per-epoch document order with locality, for sources read in blocks (Parquet row groups,
 * Arrow record batches).
 *
 * A uniform permutation over all rows would decode a whole row group for almost every document.
 * This order is two-level, like Mosaic Streaming's py1b shuffle (streaming/base/shuffle/py1b.py):
 *   1. the epoch's block order is a keyed Feistel permutation of the blocks;
 *   2. consecutive blocks of that order form windows of `window` blocks, and the rows of each
 *      window are shuffled uniformly by a Feistel permutation keyed by (epoch key, window).
 * Reading an epoch front to back therefore touches `window` blocks at a time, and each block in
 * exactly one window, so a cache holding one window per domain decodes every block once per epoch.
 * (py1br draws random window sizes so window edges do not line up across epochs; fixed windows
 * keep the position → window map a prefix sum, and the block order already changes per epoch.)
 *
 * Like FeistelPermutation, the order is computed, not stored: O(blocks) memory at epoch start,
 * O(log blocks) per lookup, and the whole reading state is still (epoch, position), so resume
 * stays O(1) in the documents served.
 */
import { FeistelPermutation } from "./permutation.js";
import { hashInts } from "../util/hash.js";

/** A bijection of [0, n) for one epoch: position → document index. */
export interface DocumentOrder {
  readonly n: number;
  permute(position: number): number;
}

export class BlockShuffle implements DocumentOrder {
  readonly n: number;
  /** First position of each window, plus n at the end (length windows + 1). */
  private readonly windowStarts: Float64Array;
  /** Blocks in epoch order: their first document index and size. */
  private readonly orderedStart: Float64Array;
  private readonly orderedSize: Float64Array;
  /** The last window's row permutation: consecutive positions almost always share a window. */
  private cachedWindow = -1;
  private cachedPermutation: FeistelPermutation | null = null;

  /**
   * @param blockSizes sizes of the blocks in document order (zero-sized blocks are allowed)
   * @param window blocks per window (≥ 1)
   * @param key the epoch's key, e.g. hashInts(seed, domain, epoch)
   */
  constructor(
    blockSizes: readonly number[],
    readonly window: number,
    private readonly key: number,
  ) {
    if (!Number.isInteger(window) || window < 1) throw new RangeError(`window must be a positive integer, got ${window}`);
    const k = blockSizes.length;
    const starts = new Float64Array(k);
    let total = 0;
    for (let b = 0; b < k; b++) {
      starts[b] = total;
      total += blockSizes[b];
    }
    this.n = total;
    const blockOrder = k > 0 ? new FeistelPermutation(k, hashInts(key, 0x626c6b)) : null;
    this.orderedStart = new Float64Array(k);
    this.orderedSize = new Float64Array(k);
    for (let i = 0; i < k; i++) {
      const b = blockOrder!.permute(i);
      this.orderedStart[i] = starts[b];
      this.orderedSize[i] = blockSizes[b];
    }
    const windows = Math.ceil(k / window);
    this.windowStarts = new Float64Array(windows + 1);
    let pos = 0;
    for (let w = 0; w < windows; w++) {
      this.windowStarts[w] = pos;
      for (let i = w * window; i < Math.min(k, (w + 1) * window); i++) pos += this.orderedSize[i];
    }
    this.windowStarts[windows] = pos;
  }

  permute(position: number): number {
    const w = this.windowOf(position);
    const inWindow = this.windowPermutation(w).permute(position - this.windowStarts[w]);
    // Walk the window's (at most `window`) blocks to the one holding row `inWindow`.
    let rest = inWindow;
    let i = w * this.window;
    while (rest >= this.orderedSize[i]) rest -= this.orderedSize[i++];
    return this.orderedStart[i] + rest;
  }

  /** The window holding `position`: the last w with windowStarts[w] ≤ position (binary search). */
  private windowOf(position: number): number {
    if (this.cachedWindow >= 0 && position >= this.windowStarts[this.cachedWindow] && position < this.windowStarts[this.cachedWindow + 1]) {
      return this.cachedWindow;
    }
    let lo = 0;
    let hi = this.windowStarts.length - 2;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.windowStarts[mid] <= position) lo = mid;
      else hi = mid - 1;
    }
    // Skip empty windows (all blocks of size 0): they share their start with the next one.
    while (this.windowStarts[lo + 1] <= position) lo++;
    return lo;
  }

  private windowPermutation(w: number): FeistelPermutation {
    if (w !== this.cachedWindow || this.cachedPermutation === null) {
      this.cachedPermutation = new FeistelPermutation(this.windowStarts[w + 1] - this.windowStarts[w], hashInts(this.key, w));
      this.cachedWindow = w;
    }
    return this.cachedPermutation;
  }
}
