/**
 * Provenance on node services (scale-out): a leader and two `mixload serve --node I --nodes 2`
 * processes, each building one of the run's two lanes and serving one rank, answer `provenance`
 * for their rank exactly as one service serving both ranks does — same segments, same files and
 * lines or rows — and refuse a rank another node serves.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MixloadClient, MixloadError } from "../../src/client/client.js";
import { provenanceSegments } from "../../src/protocol/provenance.js";
import { freePort, LeaderProcess, nodeProcess } from "./scaleout-harness.js";
import type { ServeProcess } from "../reliability/harness.js";
import { WORLD, serveAndCollect, writeProvenanceRun, type ServedStep } from "./provenance-fixture.js";

const STEPS = 4;
let leader: LeaderProcess | undefined;
let nodes: ServeProcess[] = [];
let single: { served: ServedStep[]; domains: string[] };
let fromNodes: { segments: ReturnType<typeof provenanceSegments>; ids: Int32Array }[][];
let wrongRank: unknown;
let dir: string | undefined;

beforeAll(async () => {
  const run = await writeProvenanceRun("nodes");
  dir = run.dir;
  single = await serveAndCollect(run.config, STEPS);
  const control = `tcp://127.0.0.1:${await freePort()}`;
  leader = new LeaderProcess(run.config, 2, control, `tcp://127.0.0.1:${await freePort()}`, path.join(run.dir, "leader-run"));
  await leader.start();
  nodes = [0, 1].map((i) => nodeProcess(run.config, run.dir, "prov", i, 2, control));
  const endpoints = await Promise.all(nodes.map((n) => n.start()));
  const clients = endpoints.map((e) => new MixloadClient({ endpoint: e.control, timeoutMs: 30_000 }));
  try {
    fromNodes = [];
    for (let step = 0; step < STEPS; step++) {
      const ranks = [];
      for (let rank = 0; rank < WORLD; rank++) {
        const b = await clients[rank].batch(step, rank);
        ranks.push({ segments: provenanceSegments(await clients[rank].provenance(step, rank), single.domains), ids: b.input_ids });
      }
      fromNodes.push(ranks);
    }
    try {
      await clients[0].provenance(STEPS - 1, 1);
    } catch (e) {
      wrongRank = e instanceof MixloadError ? { code: e.code, message: e.message } : e;
    }
  } finally {
    for (const c of clients) c.close();
  }
}, 240_000);

afterAll(async () => {
  for (const n of nodes) await n.stop();
  await leader?.stop();
  if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
});

describe("provenance on node services", () => {
  it("each node answers for its rank exactly as one service does", () => {
    for (let step = 0; step < STEPS; step++)
      for (let rank = 0; rank < WORLD; rank++) {
        const one = single.served[step].ranks[rank];
        expect(fromNodes[step][rank].ids, `step ${step} rank ${rank}: batch`).toEqual(one.batch.input_ids);
        expect(fromNodes[step][rank].segments, `step ${step} rank ${rank}: provenance`).toEqual(provenanceSegments(one.provenance, single.domains));
      }
  });

  it("a rank another node serves is bad_request naming that node", () => {
    expect(wrongRank).toMatchObject({ code: "bad_request" });
    expect((wrongRank as { message: string }).message).toMatch(/rank: 1 is served by node 1/);
  });
});
