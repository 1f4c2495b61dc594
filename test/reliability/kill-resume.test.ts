/**
 * Faults: the service is SIGKILLed at random points — after one rank's fetch (mid-step), right
 * after the fetch that starts a prefetch build, right after the feedback that folds a step and
 * changes the weights, right after a state fetch, and with a request in flight — and restarted
 * with `--resume` from the last state blob the trainer fetched. The batch stream must be
 * bit-identical to an uninterrupted run, and every document served exactly once, whole.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkAccounting, planKills, runTrainer, ServeProcess, tempDir, writeConfig, writeCorpus, type Corpus, type TrainerReport } from "./harness.js";

const dir = tempDir();
let corpus: Corpus;
let reference: TrainerReport;
const procs: ServeProcess[] = [];

beforeAll(async () => {
  corpus = writeCorpus(dir, [110, 80, 90], 400);
  const serve = new ServeProcess(writeConfig(dir, corpus, "reference"));
  procs.push(serve);
  reference = await runTrainer({ serve, world: 2, stateDir: dir });
  await serve.stop();
}, 120_000);

afterAll(async () => {
  for (const p of procs) await p.kill();
});

describe("SIGKILL and --resume", () => {
  it("the uninterrupted run serves every document exactly once and moves the weights", () => {
    const acc = checkAccounting(corpus, reference.served);
    expect(acc.documents).toBe(corpus.docs.size);
    expect(reference.digests.length).toBeGreaterThan(40);
    expect(reference.weightVersions).toBeGreaterThan(30);
    const w = Object.values(reference.lastWeights);
    expect(Math.max(...w) - Math.min(...w)).toBeGreaterThan(0.05);
  });

  it("20 kills (5 kinds × 4, random steps): bit-identical stream, nothing lost, nothing duplicated", async () => {
    const kills = planKills(20, 0, reference.digests.length, 20251123);
    const serve = new ServeProcess(writeConfig(dir, corpus, "killed"));
    procs.push(serve);
    const run = await runTrainer({ serve, world: 2, stateDir: dir, kills });
    await serve.stop();
    expect(run.kills.length).toBe(20);
    expect(new Set(run.kills.map((k) => k.phase)).size).toBe(5);
    expect(run.digests).toEqual(reference.digests);
    checkAccounting(corpus, run.served);
    expect(run.refetchedIdentical).toBeGreaterThan(0);
    expect(run.lastWeights).toEqual(reference.lastWeights);
    console.log(
      `kill/resume: ${run.kills.length} kills survived (${[...new Set(run.kills.map((k) => k.phase))].join(", ")}), ` +
        `${run.digests.length} steps bit-identical, ${run.refetchedIdentical} steps re-fetched identical, ` +
        `${corpus.docs.size} documents served exactly once, feedback re-sent ${run.refeedback.ok} ok / ${run.refeedback.evicted} evicted`,
    );
  }, 400_000);
});
