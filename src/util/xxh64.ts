/**
 * Streaming XXH64 (seed 0), the hash behind zstd's frame content checksum (its low 32 bits).
 *
 * fzstd skips the checksum, so without this a bit flip inside a literal section would decode
 * into wrong text without any error. Written on 32-bit halves (hi, lo) with Math.imul and
 * 16-bit partial products, because BigInt arithmetic allocates on every operation and would be
 * slower than the decompressor it checks. Spec: https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md
 */

// The five 64-bit primes as [hi, lo].
const P1H = 0x9e3779b1, P1L = 0x85ebca87;
const P2H = 0xc2b2ae3d, P2L = 0x27d4eb4f;
const P3H = 0x165667b1, P3L = 0x9e3779f9;
const P4H = 0x85ebca77, P4L = 0xc2b2ae63;
const P5H = 0x27d4eb2f, P5L = 0x165667c5;

// Results of the 64-bit helpers, returned through module state so the hot loop allocates nothing.
let rH = 0;
let rL = 0;

/** (aH:aL) * (bH:bL) mod 2^64 → rH:rL. */
function mul(aH: number, aL: number, bH: number, bL: number): void {
  const a0 = aL & 0xffff, a1 = aL >>> 16, b0 = bL & 0xffff, b1 = bL >>> 16;
  const mid = a0 * b1 + a1 * b0; // < 2^33: stays a double, no bit operators on it
  const lo = a0 * b0 + (mid % 65536) * 65536; // < 2^33
  const carry = Math.floor(lo / 4294967296);
  rL = lo >>> 0;
  rH = (a1 * b1 + Math.floor(mid / 65536) + carry + Math.imul(aH, bL) + Math.imul(aL, bH)) >>> 0;
}

/** (aH:aL) + (bH:bL) mod 2^64 → rH:rL. */
function add(aH: number, aL: number, bH: number, bL: number): void {
  const lo = aL + bL;
  rL = lo >>> 0;
  rH = (aH + bH + (lo > 0xffffffff ? 1 : 0)) >>> 0;
}

/** rotl((aH:aL), r) for 0 < r < 32 → rH:rL. */
function rotl(aH: number, aL: number, r: number): void {
  rH = ((aH << r) | (aL >>> (32 - r))) >>> 0;
  rL = ((aL << r) | (aH >>> (32 - r))) >>> 0;
}

/** round(acc, input) = rotl(acc + input * P2, 31) * P1 → rH:rL. */
function round(accH: number, accL: number, inH: number, inL: number): void {
  mul(inH, inL, P2H, P2L);
  add(accH, accL, rH, rL);
  rotl(rH, rL, 31);
  mul(rH, rL, P1H, P1L);
}

export class Xxh64 {
  // Four accumulators as [v1H, v1L, v2H, v2L, v3H, v3L, v4H, v4L].
  private readonly v = new Uint32Array(8);
  /** Bytes of a partial 32-byte stripe carried between updates. */
  private readonly tail = new Uint8Array(32);
  private tailLength = 0;
  private total = 0;

  constructor() {
    this.reset();
  }

  reset(): void {
    const v = this.v;
    add(P1H, P1L, P2H, P2L);
    v[0] = rH; v[1] = rL; // seed + P1 + P2
    v[2] = P2H; v[3] = P2L; // seed + P2
    v[4] = 0; v[5] = 0; // seed
    v[6] = ~P1H >>> 0; v[7] = -P1L >>> 0; // seed - P1 = -P1, two's complement (P1's low word is not 0: no carry)
    this.tailLength = 0;
    this.total = 0;
  }

  update(data: Uint8Array): void {
    this.total += data.length;
    let i = 0;
    if (this.tailLength > 0) {
      const take = Math.min(32 - this.tailLength, data.length);
      this.tail.set(data.subarray(0, take), this.tailLength);
      this.tailLength += take;
      i = take;
      if (this.tailLength < 32) return;
      this.stripe(this.tail, 0);
      this.tailLength = 0;
    }
    for (; i + 32 <= data.length; i += 32) this.stripe(data, i);
    if (i < data.length) {
      this.tail.set(data.subarray(i), 0);
      this.tailLength = data.length - i;
    }
  }

  /** The 64-bit digest as [hi, lo]; the state is left as is (call reset to reuse). */
  digest(): [number, number] {
    const v = this.v;
    let hH: number, hL: number;
    if (this.total >= 32) {
      rotl(v[0], v[1], 1); let aH = rH, aL = rL;
      rotl(v[2], v[3], 7); add(aH, aL, rH, rL); aH = rH; aL = rL;
      rotl(v[4], v[5], 12); add(aH, aL, rH, rL); aH = rH; aL = rL;
      rotl(v[6], v[7], 18); add(aH, aL, rH, rL); hH = rH; hL = rL;
      for (let k = 0; k < 8; k += 2) {
        round(0, 0, v[k], v[k + 1]);
        hH = (hH ^ rH) >>> 0; hL = (hL ^ rL) >>> 0;
        mul(hH, hL, P1H, P1L);
        add(rH, rL, P4H, P4L); hH = rH; hL = rL;
      }
    } else {
      hH = P5H; hL = P5L;
    }
    add(hH, hL, Math.floor(this.total / 4294967296) >>> 0, this.total >>> 0); hH = rH; hL = rL;

    const t = this.tail;
    const n = this.tailLength;
    let i = 0;
    for (; i + 8 <= n; i += 8) {
      round(0, 0, le32(t, i + 4), le32(t, i));
      hH = (hH ^ rH) >>> 0; hL = (hL ^ rL) >>> 0;
      rotl(hH, hL, 27);
      mul(rH, rL, P1H, P1L);
      add(rH, rL, P4H, P4L); hH = rH; hL = rL;
    }
    if (i + 4 <= n) {
      mul(0, le32(t, i), P1H, P1L);
      hH = (hH ^ rH) >>> 0; hL = (hL ^ rL) >>> 0;
      rotl(hH, hL, 23);
      mul(rH, rL, P2H, P2L);
      add(rH, rL, P3H, P3L); hH = rH; hL = rL;
      i += 4;
    }
    for (; i < n; i++) {
      mul(0, t[i], P5H, P5L);
      hH = (hH ^ rH) >>> 0; hL = (hL ^ rL) >>> 0;
      rotl(hH, hL, 11);
      mul(rH, rL, P1H, P1L); hH = rH; hL = rL;
    }
    // Avalanche: h ^= h >> 33; h *= P2; h ^= h >> 29; h *= P3; h ^= h >> 32.
    hL = (hL ^ (hH >>> 1)) >>> 0;
    mul(hH, hL, P2H, P2L); hH = rH; hL = rL;
    hL = (hL ^ ((hH << 3) | (hL >>> 29))) >>> 0; // h >> 29, low word (uses the old high word)
    hH = (hH ^ (hH >>> 29)) >>> 0;
    mul(hH, hL, P3H, P3L); hH = rH; hL = rL;
    hL = (hL ^ hH) >>> 0;
    return [hH, hL];
  }

  private stripe(d: Uint8Array, at: number): void {
    const v = this.v;
    for (let k = 0; k < 8; k += 2) {
      const o = at + k * 4;
      round(v[k], v[k + 1], le32(d, o + 4), le32(d, o));
      v[k] = rH;
      v[k + 1] = rL;
    }
  }
}

function le32(d: Uint8Array, i: number): number {
  return (d[i] | (d[i + 1] << 8) | (d[i + 2] << 16) | (d[i + 3] << 24)) >>> 0;
}
