/**
 * Lanes (loader/lane.ts): the global batch is a pure function of (config, seed, lanes, schedule),
 * whichever loaders build which lanes — the property node services rest on — and the lanes'
 * shares of a domain are disjoint and cover it. On real Brown text and the real llama3 tokenizer.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Loader, mergeLoaderStates, type LoaderState } from "../../src/loader/loader.js";
import type { Batch } from "../../src/batch/assemble.js";
import { decodeStateBlob, encodeStateBlob } from "../../src/loader/state-blob.js";
import { nodeLanes } from "../../src/loader/lanes.js";
import { laneShareSize } from "../../src/loader/domain-reader.js";
import { parseConfig } from "../../src/config/load.js";
import { ConfigError } from "../../src/util/errors.js";
import { loaded, smallBrownConfig } from "../helpers/fixtures.js";
import { tempDir, writeConfig, writeCorpus } from "../reliability/harness.js";
import { loadConfig } from "../../src/config/load.js";

/** One hash per row: what a rank receives of it (ids, targets, positions, domains). */
function rowDigests(batch: Batch | null): string[] {
  if (batch === null) return ["end"];
  const L = batch.seqLen;
  const out: string[] = [];
  for (let r = 0; r < batch.rows; r++) {
    const h = createHash("sha256");
    for (const a of [batch.input_ids, batch.targets, batch.position_ids, batch.domain_ids]) {
      const row = a.subarray(r * L, (r + 1) * L);
      h.update(new Uint8Array(row.buffer, row.byteOffset, row.byteLength));
    }
    out.push(h.digest("hex").slice(0, 16));
  }
  return out;
}

const weightsArb = fc.array(fc.double({ min: 0.05, max: 1, noNaN: true }), { minLength: 3, maxLength: 3 });

/** The global rows of `steps` steps, built by one loader per node (node n builds its share of the lanes). */
async function globalRows(overrides: Record<string, unknown>, nodes: number, steps: number, weights: (s: number) => number[]): Promise<string[][]> {
  const config = loaded(smallBrownConfig(overrides));
  const loaders = await Promise.all(Array.from({ length: nodes }, (_, n) => Loader.open(config, { lanes: nodeLanes(config.config, n, nodes) })));
  const out: string[][] = [];
  for (let s = 0; s < steps; s++) {
    const parts = await Promise.all(loaders.map((l) => l.next(weights(s))));
    out.push(parts.flatMap(rowDigests));
  }
  await Promise.all(loaders.map((l) => l.close()));
  return out;
}

describe("lanes", () => {
  it("one lane is the loader as it always was: the same batches as a config without `lanes`", async () => {
    const a = await Loader.open(loaded(smallBrownConfig({ seed: 3 })));
    const b = await Loader.open(loaded(smallBrownConfig({ seed: 3, lanes: 1 })));
    for (let s = 0; s < 4; s++) expect(rowDigests(await b.next([1, 2, 3]))).toEqual(rowDigests(await a.next([1, 2, 3])));
    expect(b.fingerprint).toBe(a.fingerprint);
    await a.close();
    await b.close();
  });

  it("the global rows do not depend on how many loaders build the lanes, for any seed, weights and world × batch split", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          seed: fc.nat({ max: 2 ** 31 }),
          lanes: fc.constantFrom(2, 4),
          split: fc.constantFrom([1, 8], [2, 4], [4, 2], [8, 1]),
          nodes: fc.constantFrom(1, 2, 4),
          before: weightsArb,
          after: weightsArb,
        }),
        async (run) => {
          fc.pre(run.lanes % run.nodes === 0);
          const overrides = { seed: run.seed, lanes: run.lanes, world: run.split[0], batch_size: run.split[1] };
          const weights = (s: number) => (s < 3 ? run.before : run.after);
          const whole = await globalRows(overrides, 1, 6, weights);
          const split = await globalRows(overrides, run.nodes, 6, weights);
          expect(split).toEqual(whole);
          // And the rank split (world × batch) does not matter: the same global rows for world 1.
          const oneRank = await globalRows({ ...overrides, world: 1, batch_size: 8 }, 1, 6, weights);
          expect(oneRank).toEqual(whole);
        },
      ),
      { numRuns: 6 },
    );
  }, 300_000);

  it("lanes' shares of a domain are disjoint and cover it: under on_exhausted drop every document is served once", async () => {
    const lanes = 4;
    const config = loaded(smallBrownConfig({ seed: 11, lanes, world: 4, batch_size: 2, on_exhausted: "drop", packing: { strategy: "pad", buffer_docs: 8 } }));
    const loader = await Loader.open(config);
    const seen = new Map<string, number>();
    let expected = 0;
    for (const d of loader.describeSources()) expected += d.sources.reduce((n, s) => n + s.documents, 0);
    for (;;) {
      const batch = await loader.next([1, 1, 1]);
      if (batch === null) break;
      for (const row of loader.lastServed())
        for (const [, domain, epoch, position, offset] of row) {
          if (offset !== 0) continue;
          const { source, index } = loader.documentAt(domain, { epoch, position });
          const key = `${domain}:${source.description}:${index}`;
          seen.set(key, (seen.get(key) ?? 0) + 1);
        }
    }
    await loader.close();
    // Empty paragraphs are skipped by the text source, so count what was served, each once.
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect(seen.size).toBe(expected);
  }, 120_000);

  it("lane shares: sizes add up to the domain, and differ by at most one", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 1, max: 64 }), (n, count) => {
        const sizes = Array.from({ length: count }, (_, index) => laneShareSize(n, { index, count }));
        expect(sizes.reduce((a, b) => a + b, 0)).toBe(n);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      }),
    );
  });

  it("nodes' states merge into one that resumes the run on another number of nodes, bit-identically", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          seed: fc.nat({ max: 2 ** 31 }),
          resumeAt: fc.integer({ min: 0, max: 5 }),
          fromNodes: fc.constantFrom(1, 2, 4),
          toNodes: fc.constantFrom(1, 2, 4),
        }),
        async (run) => {
          const overrides = { seed: run.seed, lanes: 4, world: 4, batch_size: 2 };
          const weights = (s: number) => (s % 2 === 0 ? [1, 2, 3] : [3, 1, 1]);
          const expected = await globalRows(overrides, 1, 6, weights);
          const config = loaded(smallBrownConfig(overrides));
          const before = await Promise.all(
            Array.from({ length: run.fromNodes }, (_, n) => Loader.open(config, { lanes: nodeLanes(config.config, n, run.fromNodes) })),
          );
          for (let s = 0; s < run.resumeAt; s++) await Promise.all(before.map((l) => l.next(weights(s))));
          // Through the real blob encoding, one blob per node, as each node's `state` reply would be.
          const blobs = before.map((l) => encodeStateBlob(l.state()));
          await Promise.all(before.map((l) => l.close()));
          const merged = mergeLoaderStates(blobs.map((b) => decodeStateBlob(b) as LoaderState));
          const after = await Promise.all(
            Array.from({ length: run.toNodes }, (_, n) => Loader.open(config, { lanes: nodeLanes(config.config, n, run.toNodes) })),
          );
          for (const l of after) await l.restore(merged);
          const tail: string[][] = [];
          for (let s = run.resumeAt; s < 6; s++) tail.push((await Promise.all(after.map((l) => l.next(weights(s))))).flatMap(rowDigests));
          await Promise.all(after.map((l) => l.close()));
          expect(tail).toEqual(expected.slice(run.resumeAt));
        },
      ),
      { numRuns: 5 },
    );
  }, 300_000);

  it("under on_exhausted drop, resume is exact at any step up to the end of the data, for any lanes and corpus", async () => {
    // A lane learns that a domain ran out only when its sampler next picks it; until then that
    // domain's weight still counts. The state must carry that (LaneState.eligible), not re-derive
    // it from the readers: found at 6 lanes, where a lane's share of a domain runs out early.
    await fc.assert(
      fc.asyncProperty(fc.record({ lanes: fc.constantFrom(1, 2, 3, 6), seed: fc.nat({ max: 1000 }) }), async (run) => {
        const dir = tempDir("mixload-lanes-drop-");
        const corpus = writeCorpus(dir, [96, 74, 80], 300, run.seed + 1);
        const config = loadConfig(writeConfig(dir, corpus, "c", { world: 6, batch_size: 1, lanes: run.lanes }));
        const weights = (s: number) => [0.2 + 0.1 * (s % 3), 0.3, 0.5 - 0.1 * (s % 3)];
        const whole = await Loader.open(config);
        const expected: string[][] = [];
        const states: LoaderState[] = [];
        for (;;) {
          states.push(decodeStateBlob(encodeStateBlob(whole.state())) as LoaderState);
          const batch = await whole.next(weights(whole.step));
          if (batch === null) break;
          expected.push(rowDigests(batch));
        }
        await whole.close();
        // Every resume point: a few ms each on this small pre-tokenized corpus.
        for (let at = 0; at < states.length; at++) {
          const resumed = await Loader.open(config);
          await resumed.restore(states[at]);
          const tail: string[][] = [];
          for (;;) {
            const batch = await resumed.next(weights(resumed.step));
            if (batch === null) break;
            tail.push(rowDigests(batch));
          }
          await resumed.close();
          expect(tail, `resumed at step ${at}`).toEqual(expected.slice(at));
        }
      }),
      { numRuns: 12 },
    );
  }, 300_000);

  it("refuses in one line: lanes that do not divide the rows or the nodes, a state without the lanes a loader builds", async () => {
    expect(() => parseConfig(smallBrownConfig({ lanes: 3 }), "/")).toThrow(ConfigError);
    expect(() => parseConfig(smallBrownConfig({ lanes: 3 }), "/")).toThrow(/lanes.*must divide world × batch_size = 4/);
    const config = loaded(smallBrownConfig({ lanes: 4 }));
    expect(() => nodeLanes(config.config, 0, 3)).toThrow(/lanes 4 do not divide among 3 nodes/);
    const node0 = await Loader.open(config, { lanes: nodeLanes(config.config, 0, 2) });
    const state = node0.state();
    await node0.close();
    const node1 = await Loader.open(config, { lanes: nodeLanes(config.config, 1, 2) });
    await expect(node1.restore(state)).rejects.toThrow(/holds lanes \[0, 1\] of 4, not lanes 2, 3/);
    await node1.close();
  });
});
