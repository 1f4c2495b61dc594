import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { chunkCount, chunkItem, chunkLengths, minTruncations } from "../../src/pack/chunk.js";

describe("chunkLengths", () => {
  it("cuts n tokens into ⌈n/L⌉ pieces of ≤ L that sum to n, all L but the last", () => {
    fc.assert(
      fc.property(fc.nat({ max: 100_000 }), fc.integer({ min: 1, max: 5000 }), (n, L) => {
        const pieces = chunkLengths(n, L);
        expect(pieces.length).toBe(Math.ceil(n / L));
        expect(chunkCount(n, L)).toBe(pieces.length);
        expect(pieces.reduce((s, x) => s + x, 0)).toBe(n);
        const bad = pieces.findIndex((p, k) => !(p > 0 && p <= L && (k === pieces.length - 1 || p === L)));
        expect(bad).toBe(-1);
        // cuts made = pieces − 1 = the unavoidable minimum for this document
        expect(Math.max(0, pieces.length - 1)).toBe(minTruncations([n], L));
      }),
    );
  });

  it("counts Σ max(0, ⌈len/L⌉ − 1) over a list", () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 20_000 })), fc.integer({ min: 1, max: 4096 }), (lengths, L) => {
        const expected = lengths.reduce((s, n) => s + Math.max(0, chunkLengths(n, L).length - 1), 0);
        expect(minTruncations(lengths, L)).toBe(expected);
        expect(minTruncations(Int32Array.from(lengths), L)).toBe(expected);
      }),
    );
    expect(minTruncations([2048, 2049, 4096, 4097, 1], 2048)).toBe(0 + 1 + 1 + 2 + 0);
  });

  it("cuts an item into zero-copy views that keep its id and domain and reassemble to it", () => {
    fc.assert(
      fc.property(fc.array(fc.integer(), { minLength: 1, maxLength: 500 }), fc.integer({ min: 1, max: 60 }), (toks, L) => {
        const item = { id: 7, domain: 2, tokens: Int32Array.from(toks) };
        const pieces = chunkItem(item, L);
        expect(pieces.map((p) => p.tokens.length)).toEqual(Array.from(chunkLengths(toks.length, L)));
        expect(pieces.flatMap((p) => Array.from(p.tokens))).toEqual(toks);
        for (const p of pieces) {
          expect(p.id).toBe(7);
          expect(p.domain).toBe(2);
          expect(p.tokens.buffer).toBe(item.tokens.buffer);
        }
      }),
    );
  });

  it("rejects a non-positive seq_len and negative lengths", () => {
    expect(() => chunkLengths(5, 0)).toThrow(RangeError);
    expect(() => chunkLengths(-1, 4)).toThrow(RangeError);
    expect(() => minTruncations([1], 0)).toThrow(RangeError);
  });
});
