/**
 * The batch builder worker (see builder.ts): owns a Loader, answers open / restore / build /
 * close one at a time, in order. Build replies transfer the batch buffers.
 */
import { parentPort } from "node:worker_threads";
import { Loader } from "../loader/loader.js";
import { ConfigError, DataError } from "../util/errors.js";
import {
  batchTransferList,
  builderRanks,
  buildStep,
  loaderInfo,
  loaderStats,
  packState,
  type BuilderReply,
  type BuilderRequest,
  type OpenedReply,
} from "./builder.js";

const port = parentPort;
if (port === null) throw new Error("the batch builder must run in a worker thread");

let loader: Loader | null = null;
let world = 1;
let queue: Promise<void> = Promise.resolve();

async function opened(l: Loader): Promise<OpenedReply> {
  return { info: await loaderInfo(l), step: l.step, state: packState(l.state()), stats: loaderStats(l) };
}

function need(): Loader {
  if (loader === null) throw new Error("the batch builder was not opened");
  return loader;
}

async function handle(req: BuilderRequest): Promise<void> {
  try {
    switch (req.type) {
      case "open": {
        loader = await Loader.open(req.loaded, { workers: req.workers, deferReadAhead: true, ...(req.lanes !== undefined ? { lanes: req.lanes } : {}) });
        world = builderRanks(req.loaded, req.lanes);
        port!.postMessage({ id: req.id, ok: true, value: await opened(loader) } satisfies BuilderReply);
        return;
      }
      case "restore": {
        const l = need();
        await l.restore(req.state);
        port!.postMessage({ id: req.id, ok: true, value: await opened(l) } satisfies BuilderReply);
        return;
      }
      case "build": {
        const r = await buildStep(need(), req.weights, world);
        port!.postMessage({ id: req.id, ok: true, value: r } satisfies BuilderReply, r === null ? [] : batchTransferList(r));
        return;
      }
      case "close": {
        const l = loader;
        loader = null;
        await l?.close();
        port!.postMessage({ id: req.id, ok: true, value: null } satisfies BuilderReply);
        return;
      }
    }
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    // The user's errors keep their type across the thread boundary (runCommand prints them without a stack).
    const fields =
      err instanceof DataError ? { reason: err.reason, file: err.file, line: err.line } : err instanceof ConfigError ? { path: err.path } : undefined;
    port!.postMessage({ id: req.id, ok: false, error: err.message, stack: err.stack, name: err.name, fields } satisfies BuilderReply);
  }
}

/**
 * Read-ahead in idle time (Loader `deferReadAhead`): between requests, one block per macrotask,
 * so a request that arrives meanwhile waits for at most one block (a few ms) and then goes first.
 * With feedback_lag 2 the builder idles most of each training step; before this, a best-fit
 * round re-read its thousands of documents inside the step that needed them (serve.stall bench).
 */
let waiting = 0;
let readAheadScheduled = false;

function scheduleReadAhead(): void {
  if (readAheadScheduled || loader === null || waiting > 0) return;
  readAheadScheduled = true;
  setImmediate(() => {
    readAheadScheduled = false;
    if (loader === null || waiting > 0) return;
    // Bad documents do not throw here (they are kept in the block and met when consumed); anything
    // that does throw is a bug, and ends the worker loudly (the service reports it on the next build).
    if (loader.readAheadOne()) scheduleReadAhead();
  });
}

// Requests run strictly in arrival order: the loader builds steps in order.
port.on("message", (req: BuilderRequest) => {
  waiting += 1;
  queue = queue
    .then(() => handle(req))
    .finally(() => {
      waiting -= 1;
      scheduleReadAhead();
    });
});
