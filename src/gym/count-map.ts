/**
 * An open-addressing hash map from non-negative integer keys (< 2^53, so n-gram ids packed
 * as (u·S + v)·S + w fit exactly in a float64) to a fixed number of float64 value columns.
 * Linear probing, load factor ≤ 1/2, doubling on growth. Nothing is allocated per lookup:
 * the learner's hot path calls `find`/`slot` millions of times per run.
 */
const EMPTY = -1;

export class CountMap {
  private keys: Float64Array;
  /** Value columns interleaved: slot s's column c is vals[s·stride + c]. */
  vals: Float64Array;
  private mask: number;
  private count = 0;

  constructor(
    readonly stride = 1,
    capacityLog2 = 12,
  ) {
    const cap = 1 << capacityLog2;
    this.keys = new Float64Array(cap).fill(EMPTY);
    this.vals = new Float64Array(cap * stride);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.count;
  }

  /** Slot index holding `key`, or −1. */
  find(key: number): number {
    const keys = this.keys;
    for (let i = hash(key) & this.mask; ; i = (i + 1) & this.mask) {
      const k = keys[i];
      if (k === key) return i;
      if (k === EMPTY) return -1;
    }
  }

  /** Slot index holding `key`, inserting it (values 0) if absent. Slots move when the map grows: re-read `vals` after. */
  slot(key: number): number {
    if (2 * (this.count + 1) > this.keys.length) this.grow();
    const keys = this.keys;
    for (let i = hash(key) & this.mask; ; i = (i + 1) & this.mask) {
      const k = keys[i];
      if (k === key) return i;
      if (k === EMPTY) {
        keys[i] = key;
        this.count += 1;
        return i;
      }
    }
  }

  /** Value column `col` of `key`, 0 when absent. */
  get(key: number, col = 0): number {
    const s = this.find(key);
    return s < 0 ? 0 : this.vals[s * this.stride + col];
  }

  /** Visit every (key, slot); the map must not change during the walk. */
  forEach(fn: (key: number, slot: number) => void): void {
    const keys = this.keys;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== EMPTY) fn(keys[i], i);
  }

  clear(): void {
    this.keys.fill(EMPTY);
    this.vals.fill(0);
    this.count = 0;
  }

  private grow(): void {
    const oldKeys = this.keys,
      oldVals = this.vals,
      st = this.stride;
    const cap = oldKeys.length * 2;
    this.keys = new Float64Array(cap).fill(EMPTY);
    this.vals = new Float64Array(cap * st);
    this.mask = cap - 1;
    for (let j = 0; j < oldKeys.length; j++) {
      const key = oldKeys[j];
      if (key === EMPTY) continue;
      let i = hash(key) & this.mask;
      while (this.keys[i] !== EMPTY) i = (i + 1) & this.mask;
      this.keys[i] = key;
      for (let c = 0; c < st; c++) this.vals[i * st + c] = oldVals[j * st + c];
    }
  }
}

/** Mix the low and high 32 bits of an integer-valued double (murmur3-style finaliser). */
function hash(key: number): number {
  const lo = key >>> 0;
  const hi = (key / 4294967296) | 0;
  let h = Math.imul(lo ^ Math.imul(hi, 0x27d4eb2d), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}
