/**
 * Faults of a scale-out run (docs/scale-out.md), real processes on real sockets, DoReMi live:
 *
 * - kill -9 of a node service mid-step (its last blob is a step behind: every rank re-fetches
 *   that step, bit-identical) and right after a step's feedback (before its report may have
 *   reached the leader: the restarted node re-forwards it);
 * - kill -9 of the leader mid-step and right after a step's feedback, restarted from its
 *   leader-state.bin on the same endpoints: nodes reconnect and re-send what it lacks;
 * - through all four, the global stream is the one service's, step for step, the leader's
 *   schedule.jsonl is the single service's line for line, and every document is served exactly
 *   once, whole (accounting as in test/reliability: each step's documents counted on its first fetch);
 * - a node whose feedback never comes: the other node's steps past s + lag are not_ready naming
 *   it, its own name its ranks; once it comes, both serve the step, identical to the one service.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MixloadClient, MixloadError } from "../../src/client/client.js";
import { checkAccounting, globalDigest, ServeProcess, tempDir, writeConfig, writeCorpus, type Corpus } from "../reliability/harness.js";
import { dyadicFeedback, freePort, LeaderProcess, nodeProcess, runNodeTrainer, scheduleLines, type NodeTrainerReport } from "./scaleout-harness.js";

const dir = tempDir("mixload-scaleout-faults-");
const SHAPE = { world: 4, batch_size: 1, lanes: 4 };
let corpus: Corpus;
let single: NodeTrainerReport;
const procs: (ServeProcess | LeaderProcess)[] = [];

beforeAll(async () => {
  corpus = writeCorpus(dir, [66, 50, 56], 300);
  const serve = new ServeProcess(writeConfig(dir, corpus, "single", SHAPE));
  procs.push(serve);
  fs.mkdirSync(path.join(dir, "single-blobs"));
  single = await runNodeTrainer({ world: 4, nodes: [serve], stateDir: path.join(dir, "single-blobs") });
  await serve.stop();
}, 120_000);

afterAll(async () => {
  for (const p of procs) await p.kill();
});

async function leaderFor(name: string, config: string): Promise<LeaderProcess> {
  const leader = new LeaderProcess(config, 2, `tcp://127.0.0.1:${await freePort()}`, `tcp://127.0.0.1:${await freePort()}`, path.join(dir, `${name}-leader`));
  procs.push(leader);
  await leader.start();
  return leader;
}

describe("kill -9 of a node service and of the leader", () => {
  it("each restarted from its blob: the one service's stream and schedule, nothing lost or duplicated", async () => {
    const config = writeConfig(dir, corpus, "faults", SHAPE);
    const leader = await leaderFor("faults", config);
    const nodes = [0, 1].map((i) => nodeProcess(config, dir, "faults", i, 2, leader.control));
    procs.push(...nodes);
    const stateDir = path.join(dir, "faults-blobs");
    fs.mkdirSync(stateDir);
    const done: string[] = [];
    const run = await runNodeTrainer({
      world: 4,
      nodes,
      stateDir,
      mid: async (step, ctx) => {
        if (step === 4 && !done.includes("node-mid")) {
          done.push("node-mid");
          return ctx.killNode(1); // its blob resumes at 4: every rank fetches step 4 again
        }
        if (step === 11 && !done.includes("leader-mid")) {
          done.push("leader-mid");
          await leader.kill();
          await leader.start(leader.stateFile);
        }
      },
      after: async (step, ctx) => {
        if (step === 7 && !done.includes("node-after")) {
          done.push("node-after");
          return ctx.killNode(0);
        }
        if (step === 15 && !done.includes("leader-after")) {
          done.push("leader-after");
          await leader.kill();
          await leader.start(leader.stateFile);
        }
      },
    });
    for (const n of nodes) await n.stop();
    await leader.stop();
    expect(done).toEqual(["node-mid", "node-after", "leader-mid", "leader-after"]);
    expect(single.digests.length).toBeGreaterThan(17);
    expect(run.digests).toEqual(single.digests);
    expect(run.refetchedIdentical).toBeGreaterThan(0);
    expect(scheduleLines(leader.runDir)).toEqual(scheduleLines(path.join(dir, "single-run")));
    const acc = checkAccounting(corpus, run.served);
    console.log(
      `scale-out faults: node kill -9 mid-step and after feedback, leader kill -9 mid-step and after feedback; ${run.digests.length} steps identical ` +
        `to one service, ${run.refetchedIdentical} re-fetched identical, schedule line for line, ${acc.documents} documents served exactly once`,
    );
  }, 240_000);
});

describe("a node whose feedback never comes", () => {
  it("the other node's steps past s + lag are not_ready naming it; its own name its ranks; once it comes, both go on", async () => {
    const config = writeConfig(dir, corpus, "silent", SHAPE);
    const leader = await leaderFor("silent", config);
    const nodes = [0, 1].map((i) => nodeProcess(config, dir, "silent", i, 2, leader.control));
    procs.push(...nodes);
    const controls = [(await nodes[0].start()).control, (await nodes[1].start()).control];
    const ranks = [0, 1, 2, 3].map((r) => new MixloadClient({ endpoint: controls[r >> 1], timeoutMs: 30_000, notReadyWaitMs: 30_000, notReadyPollMs: 2 }));
    const digests: string[] = [];
    const fetch = async (s: number) => Promise.all(ranks.map((c, r) => c.batch(s, r)));
    const s = 4;
    for (let t = 0; t <= s; t++) {
      const got = await fetch(t);
      digests[t] = globalDigest(got);
      // Node 1's ranks (2, 3) never send the feedback of step s.
      for (let r = 0; r < 4; r++) if (t < s || r < 2) await ranks[r].feedback(dyadicFeedback(got[r]));
    }
    digests[s + 1] = globalDigest(await fetch(s + 1)); // decided by the fold of s − 1
    const impatient = (r: number) => new MixloadClient({ endpoint: controls[r >> 1], timeoutMs: 30_000, notReadyWaitMs: 0 });
    const codeAndMessage = async (r: number): Promise<string> => {
      const c = impatient(r);
      try {
        await c.batch(s + 2, r);
        return "ok";
      } catch (e) {
        return e instanceof MixloadError ? `${e.code} | ${e.message}` : String(e);
      } finally {
        c.close();
      }
    };
    // Node 0 reported s at once; its not_ready names node 1 once the leader's answer is in.
    let msg = "";
    for (let i = 0; i < 200 && !/node 1\b/.test(msg); i++) {
      msg = await codeAndMessage(0);
      await new Promise((res) => setTimeout(res, 10));
    }
    expect(msg).toMatch(/^not_ready \| .*step 6 is not ready.*fold of step 4.*node 1\b/);
    expect(await codeAndMessage(2)).toMatch(/^not_ready \| .*feedback of step 4 from ranks 2, 3/);
    // The feedback comes: both nodes serve step s + 2, the one service's bytes.
    const late = await fetch(s);
    for (const r of [2, 3]) await ranks[r].feedback(dyadicFeedback(late[r]));
    digests[s + 2] = globalDigest(await fetch(s + 2));
    expect(digests).toEqual(single.digests.slice(0, s + 3));
    ranks.forEach((c) => c.close());
    for (const n of nodes) await n.stop();
    await leader.stop();
    console.log(`scale-out silent node: node 0 said "${msg.slice(0, 160)}"`);
  }, 120_000);
});
