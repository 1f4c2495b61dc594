import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BestFitPacker, bestFitDecreasing, binItems, rowsFromBins } from "../../src/pack/best-fit.js";
import type { PackItem } from "../../src/pack/types.js";

/** A capacity and lengths in [1, capacity]; small capacities make ties and exact fits common. */
const instance = fc.oneof(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 300 }), fc.constant(2048)).chain((capacity) =>
  fc.record({
    capacity: fc.constant(capacity),
    lengths: fc.array(fc.integer({ min: 1, max: capacity }), { maxLength: 300 }).map((a) => Int32Array.from(a)),
  }),
);

/**
 * Reference BFD by brute force: scan every open bin for the least room that fits; among equal
 * room, the bin that has had that room the longest (the last time it received an item is
 * earliest); else open a new bin.
 */
function referenceBfd(lengths: Int32Array, capacity: number): Int32Array {
  const order = Array.from(lengths.keys()).sort((a, b) => lengths[b] - lengths[a] || a - b);
  const room: number[] = [];
  const since: number[] = [];
  const binOf = new Int32Array(lengths.length);
  order.forEach((item, time) => {
    const len = lengths[item];
    let best = -1;
    for (let b = 0; b < room.length; b++) {
      if (room[b] < len || room[b] === 0) continue;
      if (best < 0 || room[b] < room[best] || (room[b] === room[best] && since[b] < since[best])) best = b;
    }
    if (best < 0) {
      best = room.length;
      room.push(capacity);
      since.push(time);
    }
    room[best] -= len;
    since[best] = time;
    binOf[item] = best;
  });
  return binOf;
}

function firstFitBins(lengths: Int32Array, capacity: number): number {
  const fill: number[] = [];
  for (const len of lengths) {
    const b = fill.findIndex((f) => f + len <= capacity);
    if (b < 0) fill.push(len);
    else fill[b] += len;
  }
  return fill.length;
}

const sum = (a: Int32Array): number => a.reduce((s, x) => s + x, 0);

describe("bestFitDecreasing", () => {
  it("places every item exactly once, never over capacity, and reports fills and CSR consistently", () => {
    fc.assert(
      fc.property(instance, ({ capacity, lengths }) => {
        const r = bestFitDecreasing(lengths, capacity);
        const n = lengths.length;
        expect(r.binStart.length).toBe(r.binCount + 1);
        expect(r.binStart[0]).toBe(0);
        expect(r.binStart[r.binCount]).toBe(n);
        expect(Array.from(r.items).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
        const fill = new Int32Array(r.binCount);
        const bins = binItems(r);
        bins.forEach((items, b) => {
          expect(items.length).toBeGreaterThan(0);
          for (const i of items) {
            expect(r.binOf[i]).toBe(b);
            fill[b] += lengths[i];
          }
        });
        expect(Array.from(r.binFill)).toEqual(Array.from(fill));
        for (const f of fill) expect(f).toBeLessThanOrEqual(capacity);
      }),
      { numRuns: 300 },
    );
  });

  it("places each item, longest first, in the tightest bin open at that moment (matches a brute-force simulation)", () => {
    fc.assert(
      fc.property(instance, ({ capacity, lengths }) => {
        const r = bestFitDecreasing(lengths, capacity);
        expect(Array.from(r.binOf)).toEqual(Array.from(referenceBfd(lengths, capacity)));
        // placement order: decreasing length, ties by index; and within a bin items follow it
        for (let k = 1; k < r.order.length; k++) {
          const a = r.order[k - 1];
          const b = r.order[k];
          expect(lengths[a] > lengths[b] || (lengths[a] === lengths[b] && a < b)).toBe(true);
        }
        const rank = new Int32Array(lengths.length);
        r.order.forEach((item, k) => (rank[item] = k));
        for (const items of binItems(r)) for (let k = 1; k < items.length; k++) expect(rank[items[k - 1]]).toBeLessThan(rank[items[k]]);
      }),
      { numRuns: 300 },
    );
  });

  it("is deterministic, and a reused packer gives the same result as a fresh one", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), fc.array(fc.array(fc.nat(), { maxLength: 100 }), { maxLength: 5 }), (capacity, raw) => {
        const packer = new BestFitPacker(capacity);
        for (const a of raw) {
          const lengths = Int32Array.from(a, (x) => 1 + (x % capacity));
          const fresh = bestFitDecreasing(lengths, capacity);
          expect(packer.pack(lengths)).toEqual(fresh);
          expect(bestFitDecreasing(lengths, capacity)).toEqual(fresh);
        }
      }),
      { numRuns: 200 },
    );
  });

  it("uses at least ⌈Σ/L⌉ bins, and no two bins could have been merged (the any-fit guarantee, < 2Σ/L + 1 bins)", () => {
    fc.assert(
      fc.property(instance, ({ capacity, lengths }) => {
        const r = bestFitDecreasing(lengths, capacity);
        const total = sum(lengths);
        expect(r.binCount).toBeGreaterThanOrEqual(Math.ceil(total / capacity));
        const fills = Array.from(r.binFill).sort((a, b) => a - b);
        if (fills.length >= 2) expect(fills[0] + fills[1]).toBeGreaterThan(capacity);
        expect(r.binCount).toBeLessThan((2 * total) / capacity + 1);
      }),
      { numRuns: 300 },
    );
  });

  it("needs no more bins than first fit in arrival order on random document-like lengths", () => {
    // Per instance this can fail (capacity 10, [3,3,4,3,3,4]: first fit 2 bins, BFD 3), so it is
    // checked on random lengths, where BFD's 11/9·OPT bound versus first fit's 1.7·OPT shows.
    fc.assert(
      fc.property(fc.integer({ min: 64, max: 4096 }), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 400 }), (capacity, u) => {
        // exponential lengths with mean ~capacity/4, capped at capacity
        const lengths = Int32Array.from(u, (x) => Math.min(capacity, 1 + Math.floor((-Math.log1p(-x * 0.999) * capacity) / 4)));
        expect(bestFitDecreasing(lengths, capacity).binCount).toBeLessThanOrEqual(firstFitBins(lengths, capacity));
      }),
      { numRuns: 200 },
    );
    const counter = Int32Array.from([3, 3, 4, 3, 3, 4]);
    expect(firstFitBins(counter, 10)).toBe(2);
    expect(bestFitDecreasing(counter, 10).binCount).toBe(3);
  });

  it("rejects lengths outside [1, capacity] by index and value, and stays usable", () => {
    const packer = new BestFitPacker(10);
    expect(() => packer.pack(Int32Array.from([5, 11]))).toThrow(/lengths\[1\] = 11/);
    expect(() => packer.pack(Int32Array.from([0]))).toThrow(/lengths\[0\] = 0/);
    expect(packer.pack(Int32Array.from([6, 4, 5]))).toEqual(bestFitDecreasing(Int32Array.from([6, 4, 5]), 10));
    expect(() => new BestFitPacker(0)).toThrow(RangeError);
  });

  it("turns bins into rows of the given items, in placement order", () => {
    fc.assert(
      fc.property(instance, ({ capacity, lengths }) => {
        const items: PackItem[] = Array.from(lengths, (n, id) => ({ id, domain: id % 3, tokens: new Int32Array(n) }));
        const r = bestFitDecreasing(lengths, capacity);
        const rows = rowsFromBins(r, items);
        expect(rows.map((row) => row.items.map((it) => it.id))).toEqual(binItems(r).map((b) => Array.from(b)));
      }),
      { numRuns: 100 },
    );
  });
});
