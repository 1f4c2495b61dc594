/**
 * The loader's contract, as properties over random seeds, weights, weight changes, buffer sizes,
 * packing strategies and resume points — on real Brown text and the real llama3 tokenizer.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Loader } from "../../src/loader/loader.js";
import { batchDigest, type Batch } from "../../src/batch/assemble.js";
import { decodeStateBlob, encodeStateBlob } from "../../src/loader/state-blob.js";
import type { LoaderState } from "../../src/loader/loader.js";
import { loaded, smallBrownConfig } from "../helpers/fixtures.js";

type Schedule = (step: number) => number[];

async function open(overrides: Record<string, unknown>, workers?: number): Promise<Loader> {
  return Loader.open(loaded(smallBrownConfig(overrides)), workers === undefined ? {} : { workers });
}

async function digests(loader: Loader, steps: number, schedule: Schedule): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < steps; i++) {
    const batch = await loader.next(schedule(loader.step));
    out.push(batch === null ? "end" : batchDigest(batch));
  }
  return out;
}

const weightsArb = fc.array(fc.double({ min: 0.05, max: 1, noNaN: true }), { minLength: 3, maxLength: 3 });
const runArb = fc.record({
  seed: fc.nat({ max: 2 ** 31 }),
  strategy: fc.constantFrom("best_fit", "concat", "pad"),
  bufferDocs: fc.integer({ min: 1, max: 64 }),
  before: weightsArb,
  after: weightsArb,
  changeAt: fc.integer({ min: 0, max: 12 }),
  resumeAt: fc.integer({ min: 0, max: 12 }),
});

describe("loader", () => {
  it("resumes bit-identically from any step, with any weights, weight change, buffer and strategy", async () => {
    await fc.assert(
      fc.asyncProperty(runArb, async (run) => {
        const overrides = { seed: run.seed, packing: { strategy: run.strategy, buffer_docs: run.bufferDocs } };
        const schedule: Schedule = (s) => (s < run.changeAt ? run.before : run.after);
        const steps = 12;
        const whole = await open(overrides);
        const expected = await digests(whole, steps, schedule);
        await whole.close();

        const first = await open(overrides);
        const head = await digests(first, run.resumeAt, schedule);
        // Through the real blob encoding, as `--save-state` / `--resume` do.
        const blob = encodeStateBlob(first.state());
        await first.close();
        const second = await open(overrides);
        await second.restore(decodeStateBlob(blob) as LoaderState);
        const tail = await digests(second, steps - run.resumeAt, schedule);
        await second.close();
        expect([...head, ...tail]).toEqual(expected);
      }),
      { numRuns: 25 },
    );
  });

  it("a weight change at step s leaves every batch before s unchanged", async () => {
    await fc.assert(
      fc.asyncProperty(runArb, async (run) => {
        const overrides = { seed: run.seed, packing: { strategy: run.strategy, buffer_docs: run.bufferDocs } };
        const a = await open(overrides);
        const unchanged = await digests(a, 12, () => run.before);
        await a.close();
        const b = await open(overrides);
        const changed = await digests(b, 12, (s) => (s < run.changeAt ? run.before : run.after));
        await b.close();
        expect(changed.slice(0, run.changeAt)).toEqual(unchanged.slice(0, run.changeAt));
      }),
      { numRuns: 15 },
    );
  });

  it("serves every token of every document exactly once, nothing lost (on_exhausted: drop, run to the end)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({ seed: fc.nat(), strategy: fc.constantFrom("best_fit", "concat", "pad"), bufferDocs: fc.integer({ min: 1, max: 64 }), weights: weightsArb }),
        async (run) => {
          const loader = await open({ seed: run.seed, on_exhausted: "drop", packing: { strategy: run.strategy, buffer_docs: run.bufferDocs } });
          const covered = new Map<string, { docLength: number; pieces: [number, number][] }>();
          let served = 0;
          for (;;) {
            const batch = await loader.next(run.weights);
            if (batch === null) break;
            served += batch.tokens;
            for (const row of loader.lastServed()) {
              for (const [, domain, epoch, position, offset, length, docLength] of row) {
                expect(epoch).toBe(0);
                const key = `${domain}/${position}`;
                const entry = covered.get(key) ?? { docLength, pieces: [] };
                entry.pieces.push([offset, length]);
                covered.set(key, entry);
              }
            }
          }
          const stats = loader.stats();
          await loader.close();
          // Every document of every domain, each covered by its pieces exactly once, end to end.
          const documents = [0, 1, 2].map((d) => [...covered.keys()].filter((k) => k.startsWith(`${d}/`)).length);
          let tokens = 0;
          for (const { docLength, pieces } of covered.values()) {
            pieces.sort((x, y) => x[0] - y[0]);
            let at = 0;
            for (const [offset, length] of pieces) {
              expect(offset).toBe(at);
              at += length;
            }
            expect(at).toBe(docLength);
            tokens += docLength;
          }
          expect(served).toBe(tokens);
          expect(stats.documents).toBe(covered.size);
          expect(documents.every((n) => n > 0)).toBe(true);
          if (run.strategy !== "concat") expect(stats.truncations).toBe(stats.min_truncations);
        },
      ),
      { numRuns: 8 },
    );
  });

  it("batches follow PROTOCOL.md: shifted targets inside segments, positions restart, domain -1 only on padding", async () => {
    const loader = await open({});
    for (let s = 0; s < 5; s++) {
      const b = (await loader.next([1, 1, 1])) as Batch;
      const cu = b.cu_seqlens;
      expect(cu[0]).toBe(0);
      expect(cu[cu.length - 1]).toBe(b.rows * b.seqLen);
      for (let k = 0; k + 1 < cu.length; k++) {
        const padding = b.domain_ids[cu[k]] === -1;
        for (let t = cu[k]; t < cu[k + 1]; t++) {
          expect(b.position_ids[t]).toBe(t - cu[k]);
          expect(b.domain_ids[t] === -1).toBe(padding);
          const next = t + 1 < cu[k + 1] && !padding ? b.input_ids[t + 1] : -100;
          expect(b.targets[t]).toBe(next);
        }
      }
    }
    await loader.close();
  });

  it("does not depend on the number of tokenizer workers", async () => {
    const schedule = () => [0.5, 0.3, 0.2];
    const inline = await open({}, 0);
    const a = await digests(inline, 8, schedule);
    await inline.close();
    const pooled = await open({}, 2);
    const b = await digests(pooled, 8, schedule);
    await pooled.close();
    expect(b).toEqual(a);
  });

  it("deferred read-ahead (the serve builder's idle-time refill) changes no batch, whatever the refill timing", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          seed: fc.nat({ max: 2 ** 31 }),
          bufferDocs: fc.integer({ min: 1, max: 64 }),
          weights: weightsArb,
          refills: fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 10, maxLength: 10 }),
        }),
        async (run) => {
          const overrides = { seed: run.seed, packing: { strategy: "best_fit", buffer_docs: run.bufferDocs } };
          const plain = await open(overrides, 1);
          const expected = await digests(plain, 10, () => run.weights);
          await plain.close();
          const deferred = await Loader.open(loaded(smallBrownConfig(overrides)), { workers: 1, deferReadAhead: true });
          const got: string[] = [];
          for (let s = 0; s < 10; s++) {
            // Idle time between steps: some refill calls, as many as the builder gets to.
            for (let k = 0; k < run.refills[s] && deferred.readAheadOne(); k++);
            const batch = await deferred.next(run.weights);
            got.push(batch === null ? "end" : batchDigest(batch));
          }
          await deferred.close();
          expect(got).toEqual(expected);
        },
      ),
      { numRuns: 5 },
    );
    // Ten loaders over five runs: about 30 s alone, more on a loaded machine.
  }, 240_000);

  it("refuses a state saved under a different config", async () => {
    const a = await open({ seed: 1 });
    await digests(a, 2, () => [1, 1, 1]);
    const state = a.state();
    await a.close();
    const b = await open({ seed: 2 });
    await expect(b.restore(state)).rejects.toThrow(/different config/);
    await b.close();
  });
});
