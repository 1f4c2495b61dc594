/**
 * BatchPrefetcher against a real service (ipc sockets, DoReMi, feedback_lag 2): the same batches,
 * step for step, as asking for each one when needed; the next step is already on its way (or
 * in hand) while the trainer "computes"; and it stays correct at depth 0 and at a depth that
 * runs past what the lag allows (those requests just wait out `not_ready`).
 */
import { afterAll, describe, expect, it } from "vitest";
import { MixloadClient, type ClientBatch } from "../../src/client/client.js";
import { BatchPrefetcher } from "../../src/client/prefetch.js";
import { loadConfig } from "../../src/config/load.js";
import { MixloadService } from "../../src/serve/service.js";
import { globalDigest, tempDir, writeConfig } from "./helpers.js";

const dir = tempDir();
const STEPS = 8;
const WORLD = 2;
const services: MixloadService[] = [];

afterAll(async () => {
  for (const s of services) await s.close({ writeState: false });
});

function feedbackFor(step: number, rank: number) {
  return {
    step,
    rank,
    domains: { news: { loss_sum: 40 + step + rank, tokens: 10 }, editorial: { loss_sum: 30, tokens: 10 }, reviews: { loss_sum: 20, tokens: 10 } },
    excess_loss_sum: { news: 10 + ((step * 7 + rank) % 5), editorial: 5, reviews: 1 },
  };
}

async function openService(name: string): Promise<MixloadService> {
  const config = writeConfig(dir, name, { mixer: { name: "doremi", params: { eta: 0.5 } } });
  const service = await MixloadService.open(loadConfig(config));
  services.push(service);
  return service;
}

/** Run STEPS training steps on every rank; `fetch(rank)` gives that rank's next batch. */
async function train(clients: MixloadClient[], fetch: (rank: number, step: number) => Promise<ClientBatch>, computeMs: number): Promise<string[]> {
  const byStep: ClientBatch[][] = Array.from({ length: STEPS }, () => []);
  await Promise.all(
    clients.map(async (c, rank) => {
      for (let s = 0; s < STEPS; s++) {
        const b = await fetch(rank, s);
        expect(b.step).toBe(s);
        byStep[s][rank] = b;
        await new Promise((r) => setTimeout(r, computeMs));
        await c.feedback(feedbackFor(s, rank));
      }
    }),
  );
  return byStep.map((ranks) => globalDigest(ranks));
}

describe("BatchPrefetcher", () => {
  it("gives, at any depth, the batches asked one by one (depths past the lag wait out not_ready)", async () => {
    const plain = await openService("plain");
    const plainClients = Array.from({ length: WORLD }, () => new MixloadClient({ endpoint: plain.controlEndpoint }));
    const expected = await train(plainClients, (rank, step) => plainClients[rank].batch(step, rank), 0);
    for (const c of plainClients) c.close();

    for (const depth of [0, 1, 3]) {
      const service = await openService(`prefetch-${depth}`);
      const clients = Array.from({ length: WORLD }, () => new MixloadClient({ endpoint: service.controlEndpoint }));
      const prefetchers = clients.map((_, rank) => new BatchPrefetcher({ endpoint: service.controlEndpoint }, rank, { depth }));
      const got = await train(
        clients,
        (rank, step) => {
          expect(prefetchers[rank].step).toBe(step);
          return prefetchers[rank].next();
        },
        20,
      );
      for (const p of prefetchers) p.close();
      for (const c of clients) c.close();
      expect(got, `depth ${depth}`).toEqual(expected);
    }
  });

  it("fetches nothing past `end`; a closed client neither reconnects nor keeps polling", async () => {
    const service = await openService("end");
    const probe = new MixloadClient({ endpoint: service.controlEndpoint });
    const prefetchers = Array.from({ length: WORLD }, (_, rank) => new BatchPrefetcher({ endpoint: service.controlEndpoint }, rank, { depth: 2, end: 2 }));
    try {
      for (const p of prefetchers) {
        expect((await p.next()).step).toBe(0);
        expect((await p.next()).step).toBe(1);
        await expect(p.next()).rejects.toThrow(RangeError);
      }
      expect((await probe.hello(0, WORLD)).next_step).toBe(2); // step 2 was never asked for
      // Step 2 waits for feedback 0 (lag 2): a closed client gives up at once instead of polling.
      const c = new MixloadClient({ endpoint: service.controlEndpoint });
      const pending = c.batch(2, 0);
      c.close();
      await expect(pending).rejects.toMatchObject({ code: "timeout" });
      await expect(c.hello(0, WORLD)).rejects.toMatchObject({ code: "timeout" });
    } finally {
      for (const p of prefetchers) p.close();
      probe.close();
    }
  });

  it("fetches the next step in the background, before the trainer asks for it", async () => {
    const service = await openService("background");
    const probe = new MixloadClient({ endpoint: service.controlEndpoint });
    const prefetchers = Array.from({ length: WORLD }, (_, rank) => new BatchPrefetcher({ endpoint: service.controlEndpoint }, rank, { depth: 1 }));
    try {
      for (const p of prefetchers) expect((await p.next()).step).toBe(0);
      // Nobody asks for step 1, yet every rank fetches it: hello's next_step (the lowest step
      // not yet fetched by every rank) moves to 2 on its own.
      const deadline = Date.now() + 20_000;
      let next = 0;
      while ((next = (await probe.hello(0, WORLD)).next_step) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(next).toBe(2);
      for (const p of prefetchers) expect((await p.next()).step).toBe(1);
    } finally {
      for (const p of prefetchers) p.close();
      probe.close();
    }
  });
});
