/**
 * A pseudorandom permutation of [0, n) that is computed, not stored.
 *
 * Each domain reads its documents in a fresh shuffled order every epoch. Storing that order
 * would cost 4 bytes per document and make resume state grow with the corpus; instead the
 * document at position p of epoch e is `permute(p)` of a keyed Feistel network
 * (Luby–Rackoff), restricted to [0, n) by cycle-walking (Black & Rogaway 2002).
 * Cost: O(1) memory, a few hashes per lookup; the expected number of walks is < 4 because
 * the Feistel domain 4^h is the smallest power of four ≥ n.
 */
import { fmix32 } from "../util/hash.js";

const ROUNDS = 4;

export class FeistelPermutation {
  private readonly halfBits: number;
  private readonly halfMask: number;
  private readonly roundKeys: Uint32Array;

  constructor(
    readonly n: number,
    key: number,
  ) {
    if (!Number.isInteger(n) || n < 1 || n > 2 ** 32) throw new RangeError(`permutation size must be in [1, 2^32], got ${n}`);
    let bits = 2;
    while (2 ** bits < n) bits += 2;
    this.halfBits = bits / 2;
    this.halfMask = 2 ** this.halfBits - 1;
    this.roundKeys = new Uint32Array(ROUNDS);
    let k = key >>> 0;
    for (let r = 0; r < ROUNDS; r++) {
      k = fmix32((k + 0x9e3779b9 + r) >>> 0);
      this.roundKeys[r] = k;
    }
  }

  /** The image of `index` (0 ≤ index < n). */
  permute(index: number): number {
    if (this.n === 1) return 0;
    let x = index;
    do x = this.encrypt(x);
    while (x >= this.n);
    return x;
  }

  private encrypt(x: number): number {
    const half = this.halfBits;
    const mask = this.halfMask;
    // Split into (left, right) halves; with half ≤ 16 bits every value stays a safe integer.
    let left = Math.floor(x / 2 ** half);
    let right = x & mask;
    for (let r = 0; r < ROUNDS; r++) {
      const f = fmix32((right ^ this.roundKeys[r]) >>> 0) & mask;
      const next = (left ^ f) & mask;
      left = right;
      right = next;
    }
    return left * 2 ** half + right;
  }
}
