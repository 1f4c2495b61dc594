import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Batch, IGNORE_INDEX, assembleBatch, batchDigest, sliceRank } from "../../src/batch/assemble.js";
import type { PackItem, PackedRow } from "../../src/pack/types.js";

const PAD = 99_999;

/**
 * A step: world × B rows of seqLen, each row a few items that fit. Item tokens are
 * id·1000 + position (ids unique), so every token says where it came from.
 */
const step = fc
  .record({ seqLen: fc.integer({ min: 1, max: 48 }), world: fc.integer({ min: 1, max: 4 }), perRank: fc.integer({ min: 1, max: 3 }) })
  .chain(({ seqLen, world, perRank }) =>
    fc.record({
      seqLen: fc.constant(seqLen),
      world: fc.constant(world),
      perRank: fc.constant(perRank),
      rows: fc
        .array(fc.array(fc.record({ len: fc.integer({ min: 1, max: seqLen }), domain: fc.integer({ min: 0, max: 32767 }) }), { maxLength: 6 }), {
          minLength: world * perRank,
          maxLength: world * perRank,
        })
        .map((raw) => {
          let id = 0;
          return raw.map((cands): PackedRow => {
            const items: PackItem[] = [];
            let used = 0;
            for (const { len, domain } of cands) {
              if (used + len > seqLen) continue;
              used += len;
              const myId = id++;
              items.push({ id: myId, domain, tokens: Int32Array.from({ length: len }, (_, t) => myId * 1000 + t) });
            }
            return { items };
          });
        }),
    }),
  );

/** Segments as [start, end) pairs from cu_seqlens. */
function segments(cu: Int32Array): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i + 1 < cu.length; i++) out.push([cu[i], cu[i + 1]]);
  return out;
}

const rowFill = (row: PackedRow): number => row.items.reduce((s, it) => s + it.tokens.length, 0);

describe("assembleBatch", () => {
  it("lays rows out exactly as a token-by-token reference does", () => {
    fc.assert(
      fc.property(step, ({ seqLen: L, rows }) => {
        const b = assembleBatch(rows, L, PAD);
        const n = rows.length * L;
        const ids = new Int32Array(n).fill(PAD);
        const tgt = new Int32Array(n).fill(IGNORE_INDEX);
        const pos = new Int32Array(n);
        const dom = new Int16Array(n).fill(-1);
        const cu = [0];
        rows.forEach((row, r) => {
          let t = r * L;
          for (const it of row.items) {
            for (let k = 0; k < it.tokens.length; k++, t++) {
              ids[t] = it.tokens[k];
              tgt[t] = k + 1 < it.tokens.length ? it.tokens[k + 1] : IGNORE_INDEX;
              pos[t] = k;
              dom[t] = it.domain;
            }
            cu.push(t);
          }
          for (let k = 0; t < (r + 1) * L; k++, t++) pos[t] = k;
          if (cu.at(-1) !== t) cu.push(t);
        });
        expect(b.input_ids).toEqual(ids);
        expect(b.targets).toEqual(tgt);
        expect(b.position_ids).toEqual(pos);
        expect(b.domain_ids).toEqual(dom);
        expect(b.cu_seqlens).toEqual(Int32Array.from(cu));
        expect(b.tokens).toBe(rows.reduce((s, r) => s + rowFill(r), 0));
      }),
      { numRuns: 300 },
    );
  });

  it("never lets a target cross a segment: the next token of the same segment, else -100", () => {
    fc.assert(
      fc.property(step, ({ seqLen: L, rows }) => {
        const b = assembleBatch(rows, L, PAD);
        for (const [s, e] of segments(b.cu_seqlens)) {
          for (let t = s; t < e - 1; t++) {
            if (b.domain_ids[t] === -1) expect(b.targets[t]).toBe(IGNORE_INDEX);
            else expect(b.targets[t]).toBe(b.input_ids[t + 1]);
          }
          expect(b.targets[e - 1]).toBe(IGNORE_INDEX);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("restarts position ids at 0 on every segment and counts up by one", () => {
    fc.assert(
      fc.property(step, ({ seqLen: L, rows }) => {
        const b = assembleBatch(rows, L, PAD);
        for (const [s, e] of segments(b.cu_seqlens)) for (let t = s; t < e; t++) expect(b.position_ids[t]).toBe(t - s);
      }),
      { numRuns: 200 },
    );
  });

  it("puts every token of every item in input_ids exactly once, in order, and -1 domains exactly on padding", () => {
    fc.assert(
      fc.property(step, ({ seqLen: L, rows }) => {
        const b = assembleBatch(rows, L, PAD);
        const served: number[] = [];
        rows.forEach((row, r) => {
          const fill = rowFill(row);
          for (let t = r * L; t < (r + 1) * L; t++) {
            const padding = t >= r * L + fill;
            expect(b.domain_ids[t] === -1).toBe(padding);
            if (padding) expect(b.input_ids[t]).toBe(PAD);
            else served.push(b.input_ids[t]);
          }
        });
        expect(served).toEqual(rows.flatMap((row) => row.items.flatMap((it) => Array.from(it.tokens))));
      }),
      { numRuns: 200 },
    );
  });

  it("gives cu_seqlens that rise strictly from 0 to rows·L, pass through every row boundary, and a max_seqlen that is the longest segment", () => {
    fc.assert(
      fc.property(step, ({ seqLen: L, rows }) => {
        const b = assembleBatch(rows, L, PAD);
        const cu = b.cu_seqlens;
        expect(cu[0]).toBe(0);
        expect(cu[cu.length - 1]).toBe(rows.length * L);
        for (let i = 1; i < cu.length; i++) expect(cu[i]).toBeGreaterThan(cu[i - 1]);
        const bounds = new Set(cu);
        for (let r = 0; r <= rows.length; r++) expect(bounds.has(r * L)).toBe(true);
        expect(b.maxSeqlen).toBe(Math.max(0, ...segments(cu).map(([s, e]) => e - s)));
        expect(b.cu_seqlens.length).toBe(1 + rows.reduce((s, row) => s + row.items.length + (rowFill(row) < L ? 1 : 0), 0));
      }),
      { numRuns: 200 },
    );
  });
});

describe("sliceRank", () => {
  it("splits the batch into per-rank views whose concatenation is the global batch, each with its own cu_seqlens and max_seqlen", () => {
    fc.assert(
      fc.property(step, ({ seqLen: L, world, perRank, rows }) => {
        const b = assembleBatch(rows, L, PAD);
        const ranks = Array.from({ length: world }, (_, r) => sliceRank(b, r, perRank));
        const cat = <T extends Int32Array | Int16Array>(pick: (x: (typeof ranks)[number]) => T): number[] => ranks.flatMap((x) => Array.from(pick(x)));
        expect(cat((x) => x.input_ids)).toEqual(Array.from(b.input_ids));
        expect(cat((x) => x.targets)).toEqual(Array.from(b.targets));
        expect(cat((x) => x.position_ids)).toEqual(Array.from(b.position_ids));
        expect(cat((x) => x.domain_ids)).toEqual(Array.from(b.domain_ids));
        const globalCu: number[] = [0];
        ranks.forEach((x, r) => {
          // zero-copy views of the global arrays
          expect(x.input_ids.buffer).toBe(b.input_ids.buffer);
          expect(x.domain_ids.buffer).toBe(b.domain_ids.buffer);
          expect(x.input_ids.length).toBe(perRank * L);
          expect(x.cu_seqlens[0]).toBe(0);
          expect(x.cu_seqlens[x.cu_seqlens.length - 1]).toBe(perRank * L);
          expect(x.max_seqlen).toBe(Math.max(...segments(x.cu_seqlens).map(([s, e]) => e - s)));
          for (let i = 1; i < x.cu_seqlens.length; i++) globalCu.push(x.cu_seqlens[i] + r * perRank * L);
        });
        expect(globalCu).toEqual(Array.from(b.cu_seqlens));
      }),
      { numRuns: 300 },
    );
  });

  it("rejects ranks outside the batch", () => {
    const b = assembleBatch([{ items: [] }, { items: [] }], 4, 0);
    expect(() => sliceRank(b, 1, 2)).toThrow(RangeError);
    expect(() => sliceRank(b, -1, 1)).toThrow(RangeError);
    expect(() => sliceRank(b, 0, 0)).toThrow(RangeError);
    expect(sliceRank(b, 1, 1).cu_seqlens).toEqual(Int32Array.from([0, 4]));
  });
});

describe("batchDigest", () => {
  const arrays = (b: Batch): Array<Int32Array | Int16Array> => [b.input_ids, b.targets, b.position_ids, b.domain_ids, b.cu_seqlens];

  it("is sha256 over the little-endian bytes of the five arrays in protocol order", () => {
    fc.assert(
      fc.property(step, ({ seqLen: L, rows }) => {
        const b = assembleBatch(rows, L, PAD);
        const h = createHash("sha256");
        for (const a of arrays(b)) h.update(Buffer.from(a.buffer, a.byteOffset, a.byteLength));
        expect(batchDigest(b)).toBe(h.digest("hex"));
        expect(batchDigest(assembleBatch(rows, L, PAD))).toBe(batchDigest(b));
      }),
      { numRuns: 50 },
    );
  });

  it("changes when any single byte of any array changes", () => {
    fc.assert(
      fc.property(step, fc.nat(4), fc.nat(), fc.integer({ min: 1, max: 255 }), ({ seqLen: L, rows }, which, at, mask) => {
        const b = assembleBatch(rows, L, PAD);
        const before = batchDigest(b);
        const a = arrays(b)[which];
        const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
        bytes[at % bytes.length] ^= mask;
        expect(batchDigest(b)).not.toBe(before);
      }),
      { numRuns: 300 },
    );
  });
});

describe("assembleBatch input checks", () => {
  const item = (n: number, domain = 0): PackItem => ({ id: 3, domain, tokens: new Int32Array(n) });
  it("names the row that overflows, the empty item and the bad domain", () => {
    expect(() => assembleBatch([{ items: [] }, { items: [item(3), item(2)] }], 4, 0)).toThrow(/row 1 holds 5 tokens/);
    expect(() => assembleBatch([{ items: [item(0)] }], 4, 0)).toThrow(/row 0 item 0 \(id 3\) is empty/);
    expect(() => assembleBatch([{ items: [item(1, 40000)] }], 4, 0)).toThrow(/domain 40000/);
    expect(() => assembleBatch([], 0, 0)).toThrow(RangeError);
  });
});
