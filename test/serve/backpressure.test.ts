/**
 * Memory bounds of the service's sockets: high-water marks on ROUTER and PUB, and a peer that
 * pipelines requests and stops reading does not stop the service from serving the other ranks
 * the same bytes as `mixload batches` (builder in its worker thread).
 */
import * as zmq from "zeromq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MixloadClient } from "../../src/client/client.js";
import { loadConfig } from "../../src/config/load.js";
import { encodeHeader } from "../../src/protocol/index.js";
import { MixloadService, PUB_SNDHWM, ROUTER_RCVHWM, ROUTER_SNDHWM } from "../../src/serve/service.js";
import { batchesDigests, globalDigest, tempDir, writeConfig } from "./helpers.js";

const STEPS = 6;
const dir = tempDir();
const configFile = writeConfig(dir, "hwm", { serve: { control: "tcp://127.0.0.1:*", weights: "tcp://127.0.0.1:*", run_dir: `${dir}/run` } });

let service: MixloadService;
let digests: string[];

beforeAll(async () => {
  [service, digests] = await Promise.all([MixloadService.open(loadConfig(configFile)), batchesDigests(configFile, STEPS)]);
});

afterAll(async () => {
  await service?.close({ writeState: false });
});

describe("mixload serve: back-pressure", () => {
  it("sets send/receive high-water marks on the ROUTER and PUB", () => {
    const s = service as unknown as { router: zmq.Router; pub: zmq.Publisher };
    expect(s.router.sendHighWaterMark).toBe(ROUTER_SNDHWM);
    expect(s.router.receiveHighWaterMark).toBe(ROUTER_RCVHWM);
    expect(s.pub.sendHighWaterMark).toBe(PUB_SNDHWM);
    expect(ROUTER_SNDHWM).toBeLessThanOrEqual(64);
  });

  it("a peer that sends 500 requests and reads nothing does not hold up the other ranks", async () => {
    const stuck = new zmq.Dealer({ linger: 0 });
    stuck.connect(service.controlEndpoint);
    for (let i = 0; i < 500; i++) await stuck.send(["", encodeHeader({ v: 1, op: "batch", step: 0, rank: 0 })]);
    const c0 = new MixloadClient({ endpoint: service.controlEndpoint, timeoutMs: 20_000 });
    const c1 = new MixloadClient({ endpoint: service.controlEndpoint, timeoutMs: 20_000 });
    try {
      for (let s = 0; s < STEPS; s++) {
        const ranks = await Promise.all([c0.batch(s, 0), c1.batch(s, 1)]);
        expect(globalDigest(ranks)).toBe(digests[s]);
      }
      // The stuck peer, once it reads, gets well-formed replies (some may have been dropped at the HWM).
      const reply = await stuck.receive();
      expect(reply[0].length).toBe(0);
    } finally {
      c0.close();
      c1.close();
      stuck.close();
    }
  }, 60_000);
});
