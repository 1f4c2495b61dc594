/**
 * Streaming XXH64 (seed 0), the hash behind zstd's frame content checksum (its low 32 bits).
 *
 * fzstd skips the checksum, so without this a bit flip inside a literal section would decode
 * into wrong text without any error. Written on 32-bit halves (hi, lo) with Math.imul and
 * 16-bit partial products, because BigInt arithmetic allocates on every operation and would be
 * slower than the decompressor it checks. Spec: https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md
 */

// The five 64-bit primes as [hi, lo].
const P1H = 0x9e3779b1,
  P1L = 0x85ebca87;
const P2H = 0xc2b2ae3d,
  P2L = 0x27d4eb4f;
const P3H = 0x165667b1,
  P3L = 0x9e3779f9;
const P4H = 0x85ebca77,
  P4L = 0xc2b2ae63;
const P5H = 0x27d4eb2f,
  P5L = 0x165667c5;

// P1 and P2 as 16-bit limbs, for the inlined multiplies of stripe().
const P1_48 = P1H >>> 16,
  P1_32 = P1H & 0xffff,
  P1_16 = P1L >>> 16,
  P1_00 = P1L & 0xffff;
const P2_48 = P2H >>> 16,
  P2_32 = P2H & 0xffff,
  P2_16 = P2L >>> 16,
  P2_00 = P2L & 0xffff;

// Results of the 64-bit helpers: [hi, lo]. A typed array, not two `let`s: a module variable
// holding a value ≥ 2^31 is a heap-allocated number, and writing one per operation ran at 35 MB/s.
const R = new Uint32Array(2);

/** (aH:aL) * (bH:bL) mod 2^64 → R[0]:R[1]. */
function mul(aH: number, aL: number, bH: number, bL: number): void {
  const a0 = aL & 0xffff,
    a1 = aL >>> 16,
    b0 = bL & 0xffff,
    b1 = bL >>> 16;
  const mid = a0 * b1 + a1 * b0; // < 2^33: stays a double, no bit operators on it
  const lo = a0 * b0 + (mid % 65536) * 65536; // < 2^33
  const carry = Math.floor(lo / 4294967296);
  R[1] = lo >>> 0;
  R[0] = (a1 * b1 + Math.floor(mid / 65536) + carry + Math.imul(aH, bL) + Math.imul(aL, bH)) >>> 0;
}

/** (aH:aL) + (bH:bL) mod 2^64 → R[0]:R[1]. */
function add(aH: number, aL: number, bH: number, bL: number): void {
  const lo = aL + bL;
  R[1] = lo >>> 0;
  R[0] = (aH + bH + (lo > 0xffffffff ? 1 : 0)) >>> 0;
}

/** rotl((aH:aL), r) for 0 < r < 32 → R[0]:R[1]. */
function rotl(aH: number, aL: number, r: number): void {
  R[0] = ((aH << r) | (aL >>> (32 - r))) >>> 0;
  R[1] = ((aL << r) | (aH >>> (32 - r))) >>> 0;
}

/** round(acc, input) = rotl(acc + input * P2, 31) * P1 → R[0]:R[1]. */
function round(accH: number, accL: number, inH: number, inL: number): void {
  mul(inH, inL, P2H, P2L);
  add(accH, accL, R[0], R[1]);
  rotl(R[0], R[1], 31);
  mul(R[0], R[1], P1H, P1L);
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
    v[0] = R[0];
    v[1] = R[1]; // seed + P1 + P2
    v[2] = P2H;
    v[3] = P2L; // seed + P2
    v[4] = 0;
    v[5] = 0; // seed
    v[6] = ~P1H >>> 0;
    v[7] = -P1L >>> 0; // seed - P1 = -P1, two's complement (P1's low word is not 0: no carry)
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
      rotl(v[0], v[1], 1);
      let aH = R[0],
        aL = R[1];
      rotl(v[2], v[3], 7);
      add(aH, aL, R[0], R[1]);
      aH = R[0];
      aL = R[1];
      rotl(v[4], v[5], 12);
      add(aH, aL, R[0], R[1]);
      aH = R[0];
      aL = R[1];
      rotl(v[6], v[7], 18);
      add(aH, aL, R[0], R[1]);
      hH = R[0];
      hL = R[1];
      for (let k = 0; k < 8; k += 2) {
        round(0, 0, v[k], v[k + 1]);
        hH = (hH ^ R[0]) >>> 0;
        hL = (hL ^ R[1]) >>> 0;
        mul(hH, hL, P1H, P1L);
        add(R[0], R[1], P4H, P4L);
        hH = R[0];
        hL = R[1];
      }
    } else {
      hH = P5H;
      hL = P5L;
    }
    add(hH, hL, Math.floor(this.total / 4294967296) >>> 0, this.total >>> 0);
    hH = R[0];
    hL = R[1];

    const t = this.tail;
    const n = this.tailLength;
    let i = 0;
    for (; i + 8 <= n; i += 8) {
      round(0, 0, le32(t, i + 4), le32(t, i));
      hH = (hH ^ R[0]) >>> 0;
      hL = (hL ^ R[1]) >>> 0;
      rotl(hH, hL, 27);
      mul(R[0], R[1], P1H, P1L);
      add(R[0], R[1], P4H, P4L);
      hH = R[0];
      hL = R[1];
    }
    if (i + 4 <= n) {
      mul(0, le32(t, i), P1H, P1L);
      hH = (hH ^ R[0]) >>> 0;
      hL = (hL ^ R[1]) >>> 0;
      rotl(hH, hL, 23);
      mul(R[0], R[1], P2H, P2L);
      add(R[0], R[1], P3H, P3L);
      hH = R[0];
      hL = R[1];
      i += 4;
    }
    for (; i < n; i++) {
      mul(0, t[i], P5H, P5L);
      hH = (hH ^ R[0]) >>> 0;
      hL = (hL ^ R[1]) >>> 0;
      rotl(hH, hL, 11);
      mul(R[0], R[1], P1H, P1L);
      hH = R[0];
      hL = R[1];
    }
    // Avalanche: h ^= h >> 33; h *= P2; h ^= h >> 29; h *= P3; h ^= h >> 32.
    hL = (hL ^ (hH >>> 1)) >>> 0;
    mul(hH, hL, P2H, P2L);
    hH = R[0];
    hL = R[1];
    hL = (hL ^ ((hH << 3) | (hL >>> 29))) >>> 0; // h >> 29, low word (uses the old high word)
    hH = (hH ^ (hH >>> 29)) >>> 0;
    mul(hH, hL, P3H, P3L);
    hH = R[0];
    hL = R[1];
    hL = (hL ^ hH) >>> 0;
    return [hH, hL];
  }

  /**
   * The hot loop: round() on one 32-byte stripe, written out with 16-bit limbs so every
   * intermediate stays below 2^32 and in registers (no calls, no Math.floor, no heap numbers).
   */
  private stripe(d: Uint8Array, at: number): void {
    const v = this.v;
    for (let k = 0; k < 8; k += 2) {
      const o = at + k * 4;
      const inL = (d[o] | (d[o + 1] << 8) | (d[o + 2] << 16) | (d[o + 3] << 24)) >>> 0;
      const inH = (d[o + 4] | (d[o + 5] << 8) | (d[o + 6] << 16) | (d[o + 7] << 24)) >>> 0;
      // t = input * P2
      let a48 = inH >>> 16,
        a32 = inH & 0xffff,
        a16 = inL >>> 16,
        a00 = inL & 0xffff;
      let c00 = a00 * P2_00,
        c16 = c00 >>> 16,
        c32 = 0,
        c48 = 0;
      c00 &= 0xffff;
      c16 += a16 * P2_00;
      c32 = c16 >>> 16;
      c16 &= 0xffff;
      c16 += a00 * P2_16;
      c32 += c16 >>> 16;
      c16 &= 0xffff;
      c32 += a32 * P2_00;
      c48 = c32 >>> 16;
      c32 &= 0xffff;
      c32 += a16 * P2_16;
      c48 += c32 >>> 16;
      c32 &= 0xffff;
      c32 += a00 * P2_32;
      c48 += c32 >>> 16;
      c32 &= 0xffff;
      c48 = (c48 + Math.imul(a48, P2_00) + Math.imul(a32, P2_16) + Math.imul(a16, P2_32) + Math.imul(a00, P2_48)) & 0xffff;
      // acc += t
      const lo = v[k + 1] + (((c16 << 16) | c00) >>> 0);
      const sL = lo >>> 0;
      const sH = (v[k] + (((c48 << 16) | c32) >>> 0) + (lo > 0xffffffff ? 1 : 0)) >>> 0;
      // rotl 31
      const xH = ((sH << 31) | (sL >>> 1)) >>> 0;
      const xL = ((sL << 31) | (sH >>> 1)) >>> 0;
      // acc = x * P1
      a48 = xH >>> 16;
      a32 = xH & 0xffff;
      a16 = xL >>> 16;
      a00 = xL & 0xffff;
      c00 = a00 * P1_00;
      c16 = c00 >>> 16;
      c00 &= 0xffff;
      c16 += a16 * P1_00;
      c32 = c16 >>> 16;
      c16 &= 0xffff;
      c16 += a00 * P1_16;
      c32 += c16 >>> 16;
      c16 &= 0xffff;
      c32 += a32 * P1_00;
      c48 = c32 >>> 16;
      c32 &= 0xffff;
      c32 += a16 * P1_16;
      c48 += c32 >>> 16;
      c32 &= 0xffff;
      c32 += a00 * P1_32;
      c48 += c32 >>> 16;
      c32 &= 0xffff;
      c48 = (c48 + Math.imul(a48, P1_00) + Math.imul(a32, P1_16) + Math.imul(a16, P1_32) + Math.imul(a00, P1_48)) & 0xffff;
      v[k] = ((c48 << 16) | c32) >>> 0;
      v[k + 1] = ((c16 << 16) | c00) >>> 0;
    }
  }
}

function le32(d: Uint8Array, i: number): number {
  return (d[i] | (d[i + 1] << 8) | (d[i + 2] << 16) | (d[i + 3] << 24)) >>> 0;
}
