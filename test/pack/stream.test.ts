/**
 * The streaming packer on its own, fed synthetic documents: what each strategy promises, for any
 * document lengths, buffer size and resume point.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { StreamingPacker, type DocumentFeed, type PackerState, type StreamDocument, type StreamItem } from "../../src/pack/stream.js";

const L = 64;

/** Documents 0..n-1 of one domain; token t of document d is d * 10_000 + t, so provenance is checkable. */
function feedOf(lengths: readonly number[], consumed = 0): DocumentFeed & { consumed: number } {
  const make = (position: number): StreamDocument => ({
    domain: position % 3,
    epoch: 0,
    position,
    tokens: Int32Array.from({ length: lengths[position] }, (_, t) => position * 10_000 + t),
  });
  const feed = {
    consumed,
    next: async () => (feed.consumed < lengths.length ? make(feed.consumed++) : null),
    refetch: async (_domain: number, _epoch: number, position: number) => ({ tokens: make(position).tokens }),
  };
  return feed;
}

async function drain(packer: StreamingPacker, rowsPerTake: number): Promise<StreamItem[][]> {
  const rows: StreamItem[][] = [];
  for (;;) {
    const got = await packer.take(rowsPerTake);
    rows.push(...got.map((r) => r.items as StreamItem[]));
    if (got.length < rowsPerTake) return rows;
  }
}

const strategyArb = fc.constantFrom("best_fit" as const, "concat" as const, "pad" as const);
const lengthsArb = fc.array(fc.integer({ min: 1, max: 3 * L }), { minLength: 1, maxLength: 120 });

describe("StreamingPacker", () => {
  it("places every token of every document exactly once, rows never over L, with the strategy's shape", async () => {
    await fc.assert(
      fc.asyncProperty(strategyArb, lengthsArb, fc.integer({ min: 1, max: 40 }), async (strategy, lengths, bufferDocs) => {
        const packer = new StreamingPacker({ strategy, seqLen: L, bufferDocs, minFill: 0.99, maxHoldRounds: 3 }, feedOf(lengths));
        const rows = await drain(packer, 4);
        const seen = lengths.map((n) => new Uint8Array(n));
        rows.forEach((row, r) => {
          const fill = row.reduce((a, item) => a + item.tokens.length, 0);
          expect(fill).toBeLessThanOrEqual(L);
          if (strategy === "pad") expect(row.length).toBeLessThanOrEqual(1);
          if (strategy === "concat" && r < rows.length - 1) expect(fill).toBe(L);
          for (const item of row) {
            item.tokens.forEach((token, k) => {
              const doc = Math.floor(token / 10_000);
              const t = token % 10_000;
              expect(doc).toBe(item.position);
              expect(t).toBe(item.offset + k);
              expect(seen[doc][t]).toBe(0);
              seen[doc][t] = 1;
            });
            // best_fit and pad cut only at multiples of L: the unavoidable truncations.
            if (strategy !== "concat") expect(item.offset % L).toBe(0);
          }
        });
        for (const s of seen) expect(s.every((x) => x === 1)).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  it("resumes from state() at any point with the same rows", async () => {
    await fc.assert(
      fc.asyncProperty(
        strategyArb,
        lengthsArb,
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 0, max: 10 }),
        async (strategy, lengths, bufferDocs, cut) => {
          const options = { strategy, seqLen: L, bufferDocs, minFill: 0.99, maxHoldRounds: 3 };
          const ids = (rows: StreamItem[][]) => rows.map((row) => row.map((i) => `${i.position}:${i.offset}:${i.tokens.length}`).join(","));
          const whole = ids(await drain(new StreamingPacker(options, feedOf(lengths)), 2));

          const feed = feedOf(lengths);
          const first = new StreamingPacker(options, feed);
          const head: StreamItem[][] = [];
          for (let i = 0; i < cut; i++) head.push(...(await first.take(2)).map((r) => r.items as StreamItem[]));
          const state = JSON.parse(JSON.stringify(first.state())) as PackerState;
          const second = new StreamingPacker(options, feedOf(lengths, feed.consumed));
          await second.restore(state);
          const tail = await drain(second, 2);
          expect([...ids(head), ...ids(tail)].filter((r) => r !== "")).toEqual(whole.filter((r) => r !== ""));
        },
      ),
      { numRuns: 150 },
    );
  });
});
