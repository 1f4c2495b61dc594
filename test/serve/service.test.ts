/**
 * The service end to end over real ZeroMQ sockets (ipc in a temp dir): a `doremi` run with two
 * TypeScript client ranks, every error code of PROTOCOL.md, then `state` → `serve --resume`
 * in a child process → the same next batches.
 *
 * The tests share one service and run in order: each step of the story builds on the last.
 */
import fs from "node:fs";
import path from "node:path";
import * as zmq from "zeromq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MixloadClient, WeightsSubscriber, type ClientBatch } from "../../src/client/client.js";
import { loadConfig } from "../../src/config/load.js";
import { decodeHeader, encodeHeader, type ErrorCode, type WeightsMessage } from "../../src/protocol/index.js";
import { MixloadService } from "../../src/serve/service.js";
import { batchesDigests, codeOf, globalDigest, spawnServe, tempDir, waitFor, writeConfig } from "./helpers.js";

const LAG = 2;
const KEEP = 2 * LAG + 2;
const dir = tempDir();
const configFile = writeConfig(dir, "doremi", { mixer: { name: "doremi", params: { eta: 0.5 } } });
const cfg = JSON.parse(fs.readFileSync(configFile, "utf8")) as { serve: Record<string, unknown> };
cfg.serve = { ...cfg.serve, feedback_lag: LAG, keep_steps: KEEP, prefetch: 2 };
fs.writeFileSync(configFile, JSON.stringify(cfg));

let service: MixloadService;
let rank0: MixloadClient;
let rank1: MixloadClient;
let sub: WeightsSubscriber;
const published: WeightsMessage[] = [];
let cliDigests: string[];

/** Feedback that depends only on (step, rank): a re-run of the trainer sends the same. */
function feedbackFor(step: number, rank: number) {
  const news = 1 + ((step * 7 + rank * 3) % 5);
  return {
    step,
    rank,
    domains: { news: { loss_sum: 40 + step, tokens: 10 }, editorial: { loss_sum: 30, tokens: 10 }, reviews: { loss_sum: 20, tokens: 10 } },
    excess_loss_sum: { news: news * 10, editorial: 5, reviews: 1 },
    lr: 1e-3,
  };
}

async function both(step: number, service_: [MixloadClient, MixloadClient] = [rank0, rank1]): Promise<ClientBatch[]> {
  return Promise.all([service_[0].batch(step, 0), service_[1].batch(step, 1)]);
}

/** Raw request through a DEALER (delimiter added by the client); returns the reply header. */
async function raw(frames: (Uint8Array | string)[]): Promise<Record<string, unknown>> {
  return decodeHeader((await rank0.requestFrames(frames))[0]);
}

beforeAll(async () => {
  const loaded = loadConfig(configFile);
  [service, cliDigests] = await Promise.all([MixloadService.open(loaded), batchesDigests(configFile, LAG)]);
  rank0 = new MixloadClient({ endpoint: service.controlEndpoint, timeoutMs: 20_000, notReadyWaitMs: 0 });
  rank1 = new MixloadClient({ endpoint: service.controlEndpoint, timeoutMs: 20_000, notReadyWaitMs: 0 });
  sub = new WeightsSubscriber(service.weightsEndpoint);
  void (async () => {
    for await (const m of sub) published.push(m);
  })();
});

afterAll(async () => {
  rank0?.close();
  rank1?.close();
  sub?.close();
  await service?.close({ writeState: false });
});

describe("mixload serve (doremi, lag 2, two ranks)", () => {
  let step0: ClientBatch[];

  it("hello describes the run", async () => {
    const h = await rank0.hello(0, 2);
    expect(h).toMatchObject({
      v: 1,
      ok: true,
      domains: ["news", "editorial", "reviews"],
      seq_len: 256,
      batch_size: 2,
      world: 2,
      next_step: 0,
      feedback_lag: LAG,
    });
    expect(h.vocab_size).toBe(128256);
    expect(h.eos_id).toBe(128001);
    expect(h.pad_id).toBe(128001);
    expect(Object.values(h.weights)).toEqual([1 / 3, 1 / 3, 1 / 3]);
    expect(typeof h.run_id).toBe("string");
    expect((await rank1.hello(1, 2)).next_step).toBe(0);
  });

  it("batch: fixed names, dtypes and shapes; contract invariants; ranks concatenate to `mixload batches`' global batch", async () => {
    const frames = await rank0.requestFrames([encodeHeader({ v: 1, op: "batch", step: 0, rank: 0 })]);
    const h = decodeHeader(frames[0]);
    expect(h).toMatchObject({ v: 1, ok: true, step: 0, rank: 0, weights_version: 0 });
    const specs = h.arrays as { name: string; dtype: string; shape: number[] }[];
    expect(specs.map((a) => [a.name, a.dtype])).toEqual([
      ["input_ids", "int32"],
      ["targets", "int32"],
      ["position_ids", "int32"],
      ["domain_ids", "int16"],
      ["cu_seqlens", "int32"],
    ]);
    for (const a of specs.slice(0, 4)) expect(a.shape).toEqual([2, 256]);
    expect(frames.length).toBe(6);
    expect(frames[1].length).toBe(2 * 256 * 4);
    expect(frames[4].length).toBe(2 * 256 * 2);

    for (let s = 0; s < LAG; s++) {
      const ranks = await both(s);
      if (s === 0) step0 = ranks;
      expect(globalDigest(ranks)).toBe(cliDigests[s]);
      for (const b of ranks) {
        const n = b.rows * b.seqLen;
        expect(b.cu_seqlens[0]).toBe(0);
        expect(b.cu_seqlens[b.cu_seqlens.length - 1]).toBe(n);
        let maxSeg = 0;
        for (let k = 0; k + 1 < b.cu_seqlens.length; k++) {
          const [a, e] = [b.cu_seqlens[k], b.cu_seqlens[k + 1]];
          maxSeg = Math.max(maxSeg, e - a);
          for (let t = a; t < e; t++) {
            expect(b.position_ids[t]).toBe(t - a);
            const next = t + 1 < e && b.domain_ids[t] >= 0 ? b.input_ids[t + 1] : -100;
            if (b.targets[t] !== next) expect.unreachable(`targets[${t}] = ${b.targets[t]}, expected ${next}`);
          }
        }
        expect(b.maxSeqlen).toBe(maxSeg);
        for (let t = 0; t < n; t++) if (b.domain_ids[t] === -1) expect(b.input_ids[t]).toBe(128001);
      }
    }
  });

  it("the same (step, rank) re-asked returns identical bytes, from DEALER and REQ peers alike", async () => {
    const ask = () => rank1.requestFrames([encodeHeader({ v: 1, op: "batch", step: 1, rank: 1 })]);
    const [a, b] = [await ask(), await ask()];
    expect(a.length).toBe(b.length);
    a.forEach((f, i) => expect(Buffer.compare(f, b[i])).toBe(0));

    const req = new zmq.Request({ linger: 0, receiveTimeout: 20_000 });
    req.connect(service.controlEndpoint);
    await req.send(encodeHeader({ v: 1, op: "batch", step: 1, rank: 1 }));
    const viaReq = await req.receive();
    req.close();
    expect(viaReq.length).toBe(a.length);
    viaReq.forEach((f, i) => expect(Buffer.compare(f, a[i])).toBe(0));

    // (extension) a DEALER that omits the delimiter is answered without one.
    const dealer = new zmq.Dealer({ linger: 0, receiveTimeout: 20_000 });
    dealer.connect(service.controlEndpoint);
    await dealer.send(encodeHeader({ v: 1, op: "batch", step: 1, rank: 1 }));
    const bare = await dealer.receive();
    dealer.close();
    bare.forEach((f, i) => expect(Buffer.compare(f, a[i])).toBe(0));
  });

  it("feedback of step s sets the weights from step s + lag exactly; until complete, batch s + lag is not_ready; PUB announces it", async () => {
    expect(await codeOf(rank0.batch(LAG, 0))).toBe("not_ready");
    expect(await rank0.feedback(feedbackFor(0, 0))).toEqual({ step: 0, complete: false });
    expect(await codeOf(rank0.batch(LAG, 0))).toBe("not_ready");
    expect(await rank1.feedback(feedbackFor(0, 1))).toEqual({ step: 0, complete: true });
    // idempotent re-send
    expect(await rank1.feedback(feedbackFor(0, 1))).toEqual({ step: 0, complete: true });

    const [b1] = await both(1);
    expect(b1.weightsVersion).toBe(0);
    const b2 = await both(LAG);
    expect(b2[0].weightsVersion).toBe(1);
    expect(b2[0].weights).toEqual(b2[1].weights);
    expect(b2[0].weights.news).toBeGreaterThan(1 / 3); // news had the largest excess loss
    expect(await codeOf(rank0.batch(LAG + 1, 0))).toBe("not_ready");

    await Promise.all([rank0.feedback(feedbackFor(1, 0)), rank1.feedback(feedbackFor(1, 1))]);
    const b3 = await both(LAG + 1);
    expect(b3[0].weightsVersion).toBe(2);
    expect(b3[0].weights.news).toBeGreaterThan(b2[0].weights.news);

    await waitFor(() => published.some((m) => m.version === 2), 5000, "PUB version 2");
    const v1 = published.find((m) => m.version === 1);
    expect(v1).toMatchObject({ v: 1, version: 1, effective_step: LAG, mixer: "doremi", weights: b2[0].weights });
    expect(published.find((m) => m.version === 2)).toMatchObject({ effective_step: LAG + 1, weights: b3[0].weights });

    const log = fs
      .readFileSync(path.join(service.runDir, "schedule.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(log.find((r) => r.type === "feedback" && r.step === 0)).toMatchObject({
      domains: { news: { loss_sum: 80, tokens: 20, excess_loss_sum: feedbackFor(0, 0).excess_loss_sum.news + feedbackFor(0, 1).excess_loss_sum.news } },
      lr: 1e-3,
    });
    expect(log.find((r) => r.type === "batch" && r.step === 0).digest).toBe(cliDigests[0]);
    expect(log.find((r) => r.type === "batch" && r.step === LAG)).toMatchObject({ version: 1, digest: globalDigest(b2) });
    expect(JSON.parse(fs.readFileSync(path.join(service.runDir, "config.json"), "utf8")).mixer.name).toBe("doremi");
  });

  it("every error code of PROTOCOL.md, and the service keeps serving identical bytes after each", async () => {
    const reference = await rank0.requestFrames([encodeHeader({ v: 1, op: "batch", step: 0, rank: 0 })]);
    const stillServing = async () => {
      const again = await rank0.requestFrames([encodeHeader({ v: 1, op: "batch", step: 0, rank: 0 })]);
      again.forEach((f, i) => expect(Buffer.compare(f, reference[i])).toBe(0));
    };
    const expectError = async (frames: (Uint8Array | string)[], code: ErrorCode, field?: string) => {
      const h = await raw(frames);
      expect(h.v).toBe(1);
      expect(h.ok).toBe(false);
      const e = h.error as { code: string; message: string; field?: string };
      expect(e.code, e.message).toBe(code);
      expect(typeof e.message).toBe("string");
      if (field !== undefined) expect(e.field).toBe(field);
      await stillServing();
    };
    const fb = (extra: Record<string, unknown>) => encodeHeader({ v: 1, op: "feedback", ...feedbackFor(2, 0), excess_loss_sum: { news: 1 }, ...extra });

    await expectError([Buffer.from([0xc1])], "bad_request", "header");
    await expectError(["not msgpack"], "bad_request", "header");
    await expectError([encodeHeader({ v: 1, op: "batch", rank: 0 })], "bad_request", "step");
    await expectError([encodeHeader({ v: 1, op: "launch" })], "bad_request", "op");
    await expectError([encodeHeader({ v: 1, op: "batch", step: "0", rank: 0 })], "bad_request", "step");
    await expectError([encodeHeader({ v: 1, op: "batch", step: 0, rank: 2 })], "bad_request", "rank");
    await expectError([encodeHeader({ v: 1, op: "hello", rank: 0, world: 3 })], "bad_request", "world");
    await expectError([encodeHeader({ v: 1, op: "stats" }), Buffer.alloc(4)], "bad_request", "arrays");
    await expectError([encodeHeader({ v: 2, op: "hello", rank: 0, world: 2 })], "unsupported_version", "v");
    await expectError([fb({ domains: { poetry: { loss_sum: 1, tokens: 1 } } })], "unknown_domain", "domains.poetry");
    await expectError([fb({ excess_loss_sum: { poetry: 1 } })], "unknown_domain");
    await expectError([encodeHeader({ v: 1, op: "batch", step: 1000, rank: 0 })], "step_out_of_range", "step");
    await expectError([encodeHeader({ v: 1, op: "feedback", ...feedbackFor(500, 0) })], "step_out_of_range", "step");
    await expectError([encodeHeader({ v: 1, op: "state", step: 999 })], "step_out_of_range", "step");
    await expectError([encodeHeader({ v: 1, op: "batch", step: LAG + 2, rank: 0 })], "not_ready", "step");
    await expectError([fb({ domains: { news: { loss_sum: NaN, tokens: 3 } } })], "invalid_feedback", "domains.news.loss_sum");
    await expectError([fb({ domains: { news: { loss_sum: Infinity, tokens: 3 } } })], "invalid_feedback");
    await expectError([fb({ domains: { news: { loss_sum: -1, tokens: 3 } } })], "invalid_feedback");
    await expectError([fb({ domains: { news: { loss_sum: 1, tokens: -3 } } })], "invalid_feedback", "domains.news.tokens");
    await expectError([fb({ excess_loss_sum: { news: -0.5 } })], "invalid_feedback", "excess_loss_sum.news");
    await expectError([fb({ excess_loss_sum: { editorial: 1 }, domains: { news: { loss_sum: 1, tokens: 1 } } })], "bad_request", "excess_loss_sum.editorial");
    // duplicate rank with different content
    await expectError([encodeHeader({ v: 1, op: "feedback", ...feedbackFor(0, 0), lr: 2e-3 })], "invalid_feedback", "rank");
    // the mixer's own check: DoReMi cannot use a domain with tokens but no excess/reference loss
    expect(await rank0.feedback({ step: 2, rank: 0, domains: { news: { loss_sum: 40, tokens: 10 } }, excess_loss_sum: { news: 30 } })).toEqual({
      step: 2,
      complete: false,
    });
    await expectError([encodeHeader({ v: 1, op: "feedback", step: 2, rank: 1, domains: { editorial: { loss_sum: 3, tokens: 2 } } })], "invalid_feedback");
    // ... which left no trace: the corrected re-send completes the step.
    expect(await rank1.feedback(feedbackFor(2, 1))).toEqual({ step: 2, complete: true });
    // `internal` is the reply for failures of the service itself (e.g. a loader error while
    // building); no well-formed or malformed request can provoke it.

    // None of the above changed the state: the schedule is the one the good feedback makes.
    const stats = await rank0.stats();
    expect(stats).toMatchObject({ v: 1, ok: true, folded_step: 2 });
    await waitFor(() => published.some((m) => m.version === 3), 5000, "PUB version 3");
    expect(published.filter((m) => m.version > 0).map((m) => [m.version, m.effective_step])).toEqual([
      [1, LAG],
      [2, LAG + 1],
      [3, LAG + 2],
    ]);
  });

  it("stats reports what was served", async () => {
    const s = await rank1.stats();
    expect(s.step).toBe(LAG + 2);
    expect(Object.keys(s.achieved)).toEqual(["news", "editorial", "reviews"]);
    const sum = Object.values(s.achieved).reduce((a, b) => a + b, 0);
    expect(sum).toBeCloseTo(1, 12);
    expect(s.tokens_served).toBeGreaterThan(0);
    expect(s.fill_rate).toBeGreaterThan(0.9);
    expect(s.fill_rate).toBeLessThanOrEqual(1);
    expect(Object.keys(s.documents)).toEqual(["news", "editorial", "reviews"]);
    expect(Object.keys(s.epochs)).toEqual(["news", "editorial", "reviews"]);
  });

  it("steps leave the window after keep_steps; asking for them is step_out_of_range", async () => {
    // Train through step 9 as a trainer does: fetch step s, send its feedback (3 is still missing).
    await Promise.all([rank0.feedback(feedbackFor(3, 0)), rank1.feedback(feedbackFor(3, 1))]);
    for (let s = LAG + 2; s < 10; s++) {
      await both(s);
      await Promise.all([rank0.feedback(feedbackFor(s, 0)), rank1.feedback(feedbackFor(s, 1))]);
    }
    // Steps < 10 − KEEP have left the window.
    expect(await codeOf(rank0.batch(0, 0))).toBe("step_out_of_range");
    expect(await codeOf(rank0.feedback(feedbackFor(0, 0)))).toBe("step_out_of_range");
    expect((await rank0.batch(10 - KEEP, 0)).step).toBe(10 - KEEP);
    step0 = [];
  });

  it("state → `serve --resume` (child process) → identical next batches and weights; SIGTERM writes the final state", async () => {
    // The trainer has finished step 9: take the resume blob there (it resumes at step 10).
    const { step, state } = await rank0.state();
    expect(step).toBe(10);
    const blobFile = path.join(dir, "resume.bin");
    fs.writeFileSync(blobFile, state);

    const trainOn = async (clients: [MixloadClient, MixloadClient]) => {
      const digests: string[] = [];
      const versions: number[] = [];
      // A re-sent feedback of an already folded step is idempotent on both services.
      await clients[0].feedback(feedbackFor(9, 0));
      for (let s = 10; s < 14; s++) {
        const ranks = await both(s, clients);
        digests.push(globalDigest(ranks));
        versions.push(ranks[0].weightsVersion);
        await Promise.all([clients[0].feedback(feedbackFor(s, 0)), clients[1].feedback(feedbackFor(s, 1))]);
      }
      return { digests, versions };
    };
    const original = await trainOn([rank0, rank1]);

    const control = `ipc://${dir}/resumed-control.sock`;
    const runDir = path.join(dir, "resumed-run");
    const child = spawnServe([
      "--config",
      configFile,
      "--resume",
      blobFile,
      "--control",
      control,
      "--weights",
      `ipc://${dir}/resumed-weights.sock`,
      "--run-dir",
      runDir,
      "--json",
    ]);
    try {
      // Generous: opening the loader takes seconds, more on a loaded CI machine.
      await waitFor(
        () => child.stderr().includes('"listening"'),
        100_000,
        () => `the resumed service to listen\n${child.stderr()}`,
      );
      // Started as a bare `node main.js`: the listening event names the node flags it lacks (src/cli/node-flags.ts).
      const listening = JSON.parse(
        child
          .stderr()
          .split("\n")
          .find((l) => l.includes('"listening"'))!,
      ) as { node_flags_missing?: string[] };
      expect(listening.node_flags_missing).toEqual(["--single-threaded-gc"]);
      const c0 = new MixloadClient({ endpoint: control, timeoutMs: 20_000, notReadyWaitMs: 0 });
      const c1 = new MixloadClient({ endpoint: control, timeoutMs: 20_000, notReadyWaitMs: 0 });
      expect((await c0.hello(0, 2)).next_step).toBe(10);
      const resumed = await trainOn([c0, c1]);
      expect(resumed).toEqual(original);
      c0.close();
      c1.close();
    } finally {
      child.child.kill("SIGTERM");
    }
    expect(await child.exit).toBe(0);
    expect(fs.existsSync(path.join(runDir, "state.bin"))).toBe(true);
    const log = fs
      .readFileSync(path.join(runDir, "schedule.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(log.filter((r) => r.type === "batch" && r.step >= 10 && r.step < 14).map((r) => r.digest)).toEqual(original.digests);
  }, 150_000);
});
