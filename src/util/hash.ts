/**
 * Small deterministic integer hashing. Everything random in mixload is derived from the
 * config seed through these functions, so a value can be recomputed instead of stored
 * (mosaicml/streaming's principle: the order is a pure function of seed and position).
 */

/** murmur3's 32-bit finaliser: a fast bijective mix of a uint32. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Hash a list of small non-negative integers (< 2^53) to a uint32 key. */
export function hashInts(...values: number[]): number {
  let h = 0x9e3779b9;
  for (const v of values) {
    const lo = v >>> 0;
    const hi = Math.floor(v / 2 ** 32) >>> 0;
    h = fmix32(h ^ lo);
    h = fmix32((h + hi + 0x7f4a7c15) >>> 0);
  }
  return h;
}

/** mulberry32: a small, fast, seedable PRNG in [0, 1) for synthetic benchmark and test data. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
