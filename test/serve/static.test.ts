/**
 * A static mixer over TCP: nothing ever waits for feedback, every step's rank shares
 * concatenate to `mixload batches`' global batch, and a batch already built is answered while
 * the prefetcher is still building later steps.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MixloadClient, MixloadError } from "../../src/client/client.js";
import { loadConfig } from "../../src/config/load.js";
import { MixloadService } from "../../src/serve/service.js";
import { batchesDigests, globalDigest, tempDir, writeConfig } from "./helpers.js";

const STEPS = 8;
const dir = tempDir();
const configFile = writeConfig(dir, "uniform", {
  mixer: { name: "uniform" },
  serve: { control: "tcp://127.0.0.1:*", weights: "tcp://127.0.0.1:*", run_dir: `${dir}/run`, prefetch: 0, feedback_lag: 1 },
});

let service: MixloadService;
let c0: MixloadClient;
let c1: MixloadClient;
let digests: string[];

beforeAll(async () => {
  [service, digests] = await Promise.all([MixloadService.open(loadConfig(configFile)), batchesDigests(configFile, STEPS)]);
  expect(service.controlEndpoint).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
  c0 = new MixloadClient({ endpoint: service.controlEndpoint, timeoutMs: 20_000, notReadyWaitMs: 0 });
  c1 = new MixloadClient({ endpoint: service.controlEndpoint, timeoutMs: 20_000, notReadyWaitMs: 0 });
});

afterAll(async () => {
  c0?.close();
  c1?.close();
  await service?.close({ writeState: false });
});

describe("mixload serve (uniform, tcp)", () => {
  it("never answers not_ready, with or without feedback, and matches `mixload batches --digest` step for step", async () => {
    const hello = await c0.hello(0, 2);
    expect(hello).toMatchObject({ needs_feedback: false, next_step: 0, world: 2 });
    for (let s = 0; s < STEPS - 2; s++) {
      const ranks = await Promise.all([c0.batch(s, 0), c1.batch(s, 1)]);
      expect(globalDigest(ranks)).toBe(digests[s]);
      expect(ranks[0].weightsVersion).toBe(0);
      // Feedback is accepted (and logged) but never waited for; send it for even steps only.
      if (s % 2 === 0) {
        expect(await c0.feedback({ step: s, rank: 0, domains: { news: { loss_sum: 3, tokens: 2 } } })).toEqual({ step: s, complete: false });
        expect(await c1.feedback({ step: s, rank: 1, domains: {} })).toEqual({ step: s, complete: true });
      }
    }
  });

  it("a built step is answered while a later step is still being built", async () => {
    const order: string[] = [];
    // prefetch 0: step STEPS − 2 is built only when asked for.
    const later = c1.batch(STEPS - 2, 1).then(() => order.push("later"));
    const built = c0.batch(STEPS - 3, 0).then(() => order.push("built"));
    await Promise.all([later, built]);
    expect(order).toEqual(["built", "later"]);
    for (const s of [STEPS - 2, STEPS - 1]) {
      const ranks = await Promise.all([c0.batch(s, 0), c1.batch(s, 1)]);
      expect(globalDigest(ranks)).toBe(digests[s]);
    }
  });

  it("stats: achieved fractions of the served tokens, close to the uniform weights", async () => {
    const s = await c0.stats();
    expect(Object.values(s.weights)).toEqual([1 / 3, 1 / 3, 1 / 3]);
    for (const f of Object.values(s.achieved)) expect(Math.abs(f - 1 / 3)).toBeLessThan(0.1);
  });

  it("the client re-asks on a fresh socket after a timeout, then gives up with code `timeout`", async () => {
    const nobody = new MixloadClient({ endpoint: `ipc://${dir}/nobody.sock`, timeoutMs: 150, retries: 2 });
    const start = Date.now();
    const e = await nobody.stats().catch((x: unknown) => x);
    nobody.close();
    expect(e).toBeInstanceOf(MixloadError);
    expect((e as MixloadError).code).toBe("timeout");
    expect(Date.now() - start).toBeGreaterThanOrEqual(3 * 150 - 20);
  });
});
