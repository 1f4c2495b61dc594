import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { minTruncations } from "../../src/pack/chunk.js";
import { ConcatPacker } from "../../src/pack/concat.js";
import { PadPacker } from "../../src/pack/pad.js";
import type { StreamPacker } from "../../src/pack/streaming.js";
import type { PackItem, PackedRow } from "../../src/pack/types.js";

/** Documents with ids in arrival order and distinct tokens (id·10⁶ + position), so provenance is visible. */
const docs = fc.array(fc.integer({ min: 1, max: 200 }), { maxLength: 60 }).map((lens) =>
  lens.map((n, id): PackItem => ({ id, domain: id % 4, tokens: Int32Array.from({ length: n }, (_, t) => id * 1_000_000 + t) })),
);
const seqLen = fc.integer({ min: 1, max: 128 });

function run(packer: StreamPacker, items: readonly PackItem[]): PackedRow[] {
  const rows = items.flatMap((it) => packer.push(it));
  return rows.concat(packer.flush());
}

const flat = (rows: readonly PackedRow[]): number[] => rows.flatMap((r) => r.items.flatMap((it) => Array.from(it.tokens)));
const fill = (row: PackedRow): number => row.items.reduce((s, it) => s + it.tokens.length, 0);
const serialise = (rows: readonly PackedRow[]): string =>
  JSON.stringify(rows.map((r) => r.items.map((it) => [it.id, it.domain, Array.from(it.tokens)])));

describe("concat", () => {
  it("emits every token once, in order, in full rows (only the flushed last one may be short), each piece from one document", () => {
    fc.assert(
      fc.property(docs, seqLen, (items, L) => {
        const rows = run(new ConcatPacker(L), items);
        expect(flat(rows)).toEqual(flat(items.map((it) => ({ items: [it] }))));
        rows.forEach((row, r) => {
          if (r < rows.length - 1) expect(fill(row)).toBe(L);
          else expect(fill(row)).toBeLessThanOrEqual(L);
          for (const it of row.items) {
            expect(it.tokens.length).toBeGreaterThan(0);
            for (const t of it.tokens) expect(Math.floor(t / 1_000_000)).toBe(it.id);
            expect(it.domain).toBe(it.id % 4);
          }
        });
      }),
    );
  });

  it("counts one truncation per cut: the number of row boundaries that fall inside a document", () => {
    fc.assert(
      fc.property(docs, seqLen, (items, L) => {
        const packer = new ConcatPacker(L);
        const rows = run(packer, items);
        let cuts = 0;
        for (let r = 1; r < rows.length; r++) if (rows[r].items[0].id === rows[r - 1].items.at(-1)!.id) cuts++;
        expect(packer.truncations).toBe(cuts);
        expect(packer.truncations).toBeGreaterThanOrEqual(minTruncations(items.map((it) => it.tokens.length), L));
      }),
    );
  });

  it("resumes from state() at any point with exactly the rows of an uninterrupted run", () => {
    fc.assert(
      fc.property(docs, seqLen, fc.nat(), (items, L, cutAt) => {
        const k = items.length === 0 ? 0 : cutAt % (items.length + 1);
        const whole = run(new ConcatPacker(L), items);
        const first = new ConcatPacker(L);
        const before = items.slice(0, k).flatMap((it) => first.push(it));
        const state = JSON.parse(JSON.stringify(first.state())) as ReturnType<ConcatPacker["state"]>;
        const second = new ConcatPacker(L);
        second.restore(state, (id) => items[id]);
        expect(serialise(before.concat(run(second, items.slice(k))))).toBe(serialise(whole));
      }),
    );
  });

  it("rejects a state that is not a partial row", () => {
    const item: PackItem = { id: 0, domain: 0, tokens: new Int32Array(10) };
    const p = new ConcatPacker(4);
    expect(() => p.restore({ ids: [0], offsets: [2] }, () => item)).toThrow(/carried 8 tokens/);
    expect(() => p.restore({ ids: [0], offsets: [10] }, () => item)).toThrow(/offset 10/);
    expect(() => p.restore({ ids: [0], offsets: [] }, () => item)).toThrow(RangeError);
  });
});

describe("pad", () => {
  it("puts one piece of one document in each row, every token once in order, with only unavoidable cuts", () => {
    fc.assert(
      fc.property(docs, seqLen, (items, L) => {
        const packer = new PadPacker(L);
        const rows = run(packer, items);
        expect(flat(rows)).toEqual(flat(items.map((it) => ({ items: [it] }))));
        for (const row of rows) {
          expect(row.items.length).toBe(1);
          expect(fill(row)).toBeLessThanOrEqual(L);
        }
        const lengths = items.map((it) => it.tokens.length);
        expect(rows.length).toBe(lengths.reduce((s, n) => s + Math.ceil(n / L), 0));
        expect(packer.truncations).toBe(minTruncations(lengths, L));
        expect(packer.state()).toEqual({ ids: [], offsets: [] });
      }),
    );
  });
});
