/**
 * Tokenizer worker thread: loads the tokenizer once, then encodes batches of texts.
 * Replies with all ids concatenated in one transferable Int32Array plus document end
 * offsets, so a batch crosses the thread boundary as two buffers, not thousands of arrays.
 *
 * Requests wait in a queue here and run one per macrotask, so messages that arrive meanwhile
 * are seen between two requests: an `expedite` moves a queued request to the front (the pool
 * sends it when a reader is blocked on that request; see pool.ts). A `release` takes the back half
 * of the queue off it and gives those requests' ids back, unstarted, for another worker to run
 * (pool.ts sends it when another worker is running dry). A `stats` request is answered at once,
 * between two encodes: the cache's lookups so far and this thread's CPU seconds.
 */
import { parentPort, workerData } from "node:worker_threads";
import { threadCpuSeconds } from "./thread-cpu.js";
import { loadTokenizer, type TokenizerFiles } from "./tokenizer.js";

/** What a worker starts with: the tokenizer, and the pool's piece table (piece-table.ts). */
export interface WorkerSetup {
  readonly files: TokenizerFiles;
  readonly pieceTable?: SharedArrayBuffer;
}

/** One worker's cache lookups (null on the plain library's path) and its thread's CPU seconds (undefined off Linux), since it started. */
export interface WorkerStats {
  readonly cache: { readonly hits: number; readonly shared: number; readonly misses: number } | null;
  readonly cpuS: number | undefined;
}

export type WorkerRequest =
  | { readonly type: "encode"; readonly id: number; readonly texts: readonly string[] }
  | { readonly type: "expedite"; readonly id: number }
  | { readonly type: "release"; readonly id: number }
  | { readonly type: "stats"; readonly id: number };
export type StatsReply = { readonly id: number; readonly stats: WorkerStats };
/** The requests a `release` took off the queue, in queue order: this worker will not answer them. */
export type ReleaseReply = { readonly id: number; readonly released: number[] };
export type EncodeReply = { readonly id: number; readonly ids: Int32Array; readonly ends: Int32Array } | { readonly id: number; readonly error: string };

const setup = workerData as WorkerSetup;
const tokenizer = loadTokenizer(setup.files, { pieceTable: setup.pieceTable });
const port = parentPort;
if (port === null) throw new Error("tokenizer worker must run in a worker thread");

const queue: { id: number; texts: readonly string[] }[] = [];
let scheduled = false;

function runOne(): void {
  scheduled = false;
  const request = queue.shift();
  if (request === undefined) return;
  try {
    const { ids, ends } = tokenizer.encodeBatch(request.texts);
    port!.postMessage({ id: request.id, ids, ends } satisfies EncodeReply, [ids.buffer, ends.buffer]);
  } catch (e) {
    port!.postMessage({ id: request.id, error: (e as Error).stack ?? String(e) } satisfies EncodeReply);
  }
  schedule();
}

function schedule(): void {
  if (!scheduled && queue.length > 0) {
    scheduled = true;
    setImmediate(runOne);
  }
}

port.on("message", (request: WorkerRequest) => {
  if (request.type === "encode") queue.push({ id: request.id, texts: request.texts });
  else if (request.type === "stats") {
    port.postMessage({ id: request.id, stats: { cache: tokenizer.cacheStats(), cpuS: threadCpuSeconds() } } satisfies StatsReply);
  } else if (request.type === "release") {
    const released = queue.splice(Math.ceil(queue.length / 2)).map((r) => r.id);
    port.postMessage({ id: request.id, released } satisfies ReleaseReply);
  } else {
    const at = queue.findIndex((r) => r.id === request.id);
    if (at > 0) queue.unshift(...queue.splice(at, 1));
  }
  schedule();
});
