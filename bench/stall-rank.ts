/**
 * One simulated trainer rank for the serve.stall bench, in its own worker thread (rank-thread.ts).
 *
 * Loop: fetch batch s (timed), "compute" for stepMs, send per-domain losses for s. Reports the
 * time spent waiting for batches from step `warm` on, over the wall time of those steps.
 */
import { workerData } from "node:worker_threads";
import { MixloadClient, type ClientBatch } from "../src/client/client.js";
import { BatchPrefetcher } from "../src/client/prefetch.js";
import { reportToParent } from "./rank-thread.js";

export interface StallRankInput {
  endpoint: string;
  rank: number;
  world: number;
  steps: number;
  stepMs: number;
  warm: number;
  /** Client-side prefetch depth (BatchPrefetcher); 0 = ask for each batch when it is needed. */
  prefetch: number;
}

export interface StallRankResult {
  rank: number;
  waitedMs: number;
  totalMs: number;
  /** Fetches that took longer than 5 ms. */
  slow: number;
  /** From the worker's start to batch 0 in hand. */
  firstBatchMs: number;
}

const input = workerData as StallRankInput;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const now = () => performance.now();

async function run(): Promise<StallRankResult> {
  const { endpoint, rank, world, steps, stepMs, warm, prefetch } = input;
  const options = { endpoint, timeoutMs: 60_000, notReadyWaitMs: 60_000 };
  const client = new MixloadClient(options);
  const prefetcher = prefetch > 0 ? new BatchPrefetcher(options, rank, { depth: prefetch }) : null;
  const fetch = (s: number): Promise<ClientBatch> => (prefetcher !== null ? prefetcher.next() : client.batch(s, rank));
  const t0 = now();
  try {
    const names = (await client.hello(rank, world)).domains;
    let waitedMs = 0;
    let slow = 0;
    let firstBatchMs = 0;
    let tStart = 0;
    for (let s = 0; s < steps; s++) {
      if (s === warm) tStart = now();
      const a = now();
      const b = await fetch(s);
      const w = now() - a;
      if (s === 0) firstBatchMs = now() - t0;
      if (s >= warm) waitedMs += w;
      if (w > 5) slow += 1;
      await sleep(stepMs);
      // Synthetic losses, different per domain so DoReMi moves the weights.
      const counts = new Array<number>(names.length).fill(0);
      for (let i = 0; i < b.domain_ids.length; i++) if (b.domain_ids[i] >= 0 && b.targets[i] !== -100) counts[b.domain_ids[i]] += 1;
      const domains: Record<string, { loss_sum: number; tokens: number }> = {};
      const excess: Record<string, number> = {};
      names.forEach((n, d) => {
        if (counts[d] === 0) return;
        domains[n] = { loss_sum: counts[d] * (3 + 0.05 * d), tokens: counts[d] };
        excess[n] = counts[d] * 0.02 * (1 + (d % 4));
      });
      await client.feedback({ step: s, rank, domains, excess_loss_sum: excess });
    }
    return { rank, waitedMs, totalMs: now() - tStart, slow, firstBatchMs };
  } finally {
    prefetcher?.close();
    client.close();
  }
}

reportToParent(run());
