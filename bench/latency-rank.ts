/**
 * One rank of the serve.latency bench, in its own worker thread (rank-thread.ts). Asks step s on a plain DEALER, "computes" `paceMs`, asks s + 1; reports
 * every reply's latency after `warm` steps. Works against `mixload serve` and the raw anchor.
 */
import { workerData } from "node:worker_threads";
import * as zmq from "zeromq";
import { decodeHeader, encodeHeader } from "../src/protocol/codec.js";
import { reportToParent } from "./rank-thread.js";

export interface LatencyRankInput {
  endpoint: string;
  rank: number;
  steps: number;
  paceMs: number;
  warm: number;
  /** Sleep before the first request (ranks start staggered). */
  offsetMs: number;
}

const input = workerData as LatencyRankInput;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function run(): Promise<number[]> {
  const socket = new zmq.Dealer({ linger: 0, reconnectInterval: 10, receiveTimeout: 60_000 });
  socket.connect(input.endpoint);
  const latencies: number[] = [];
  try {
    await sleep(input.offsetMs);
    for (let s = 0; s < input.steps; s++) {
      const t0 = performance.now();
      await socket.send(["", encodeHeader({ v: 1, op: "batch", step: s, rank: input.rank })]);
      const reply = await socket.receive();
      const ms = performance.now() - t0;
      const h = decodeHeader(reply[1]);
      if (h.ok !== true) throw new Error(`latency rank ${input.rank} step ${s}: ${JSON.stringify(h.error)}`);
      if (s >= input.warm) latencies.push(ms);
      await sleep(input.paceMs);
    }
    return latencies;
  } finally {
    socket.close();
  }
}

reportToParent(run());
