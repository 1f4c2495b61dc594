/**
 * MinHash signatures (Broder 1997; Broder, Charikar, Frieze & Mitzenmacher 2000): for a family
 * of random permutations π_1..π_P of the shingle space, sig_i(A) = min_{x∈A} π_i(x), and
 * Pr[sig_i(A) = sig_i(B)] = J(A, B) = |A ∩ B| / |A ∪ B|. The fraction of equal positions is an
 * unbiased estimate of J with variance J(1 − J)/P (Leskovec, Rajaraman & Ullman, Mining of
 * Massive Datasets, §3.3).
 *
 * The permutations: π_i(x) = fmix32(a_i·x + b_i mod 2³²) with a_i odd. x ↦ a·x + b is a
 * bijection of the 32-bit integers when a is odd (the multiplicative universal family of
 * Dietzfelbinger et al. 1997, without its shift), and murmur3's fmix32 is a bijection that
 * spreads every input bit over the output, so each π_i is a permutation of [0, 2³²) chosen by the
 * seeded pair (a_i, b_i). Two 32-bit multiplies per (shingle, permutation) where Carter–Wegman
 * modulo 2⁶¹ − 1 (datasketch's choice) needs 64-bit products that JavaScript only has as BigInt.
 * test/select/dedup-minhash.test.ts checks the estimator's error against J(1 − J)/P on real pairs.
 */
import { hashInts } from "../../util/hash.js";

export class MinHasher {
  private readonly a: Uint32Array;
  private readonly b: Uint32Array;
  private readonly scratch: Uint32Array;

  constructor(
    readonly numPerm: number,
    seed: number,
  ) {
    this.a = new Uint32Array(numPerm);
    this.b = new Uint32Array(numPerm);
    this.scratch = new Uint32Array(numPerm);
    for (let i = 0; i < numPerm; i++) {
      this.a[i] = (hashInts(seed, i, 0) | 1) >>> 0;
      this.b[i] = hashInts(seed, i, 1);
    }
  }

  /** Write the signature of `shingles` to out[at, at + numPerm). No shingles: every position 0xffffffff. */
  sign(shingles: Uint32Array, out: Uint32Array, at: number): void {
    const P = this.numPerm;
    const a = this.a,
      b = this.b,
      sig = this.scratch;
    sig.fill(0xffffffff);
    for (let s = 0; s < shingles.length; s++) {
      const x = shingles[s];
      for (let i = 0; i < P; i++) {
        // fmix32(a·x + b), inlined: this loop is the whole cost of a signature.
        let h = (Math.imul(a[i], x) + b[i]) | 0;
        h ^= h >>> 16;
        h = Math.imul(h, 0x85ebca6b);
        h ^= h >>> 13;
        h = Math.imul(h, 0xc2b2ae35);
        h ^= h >>> 16;
        if (h >>> 0 < sig[i]) sig[i] = h >>> 0;
      }
    }
    out.set(sig, at);
  }
}

/** Equal positions of two signatures ÷ their length: the MinHash estimate of Jaccard similarity. */
export function estimatedJaccard(sigs: Uint32Array, p: number, i: number, j: number): number {
  const a = i * p,
    b = j * p;
  let same = 0;
  for (let k = 0; k < p; k++) if (sigs[a + k] === sigs[b + k]) same++;
  return same / p;
}
