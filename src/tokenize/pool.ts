/**
 * A worker_threads pool for tokenization.
 *
 * Determinism: a request's reply holds its documents in request order, whichever worker
 * ran it, and callers consume replies by request, not by completion order, so the token
 * stream never depends on the number of workers or their timing. With `workers: 0` the
 * tokenizer runs in the calling thread (same ids, no parallelism): useful for tests and tiny runs.
 *
 * Scheduling: requests go to a worker at once (the one with the fewest characters queued) and wait
 * in that worker's own queue, so a worker never idles while this thread is busy packing. Counting
 * characters rather than requests keeps the workers' queues about equally long in time. Characters
 * are not time, though: a mail's base64 lines run the model for nearly every piece while prose
 * hits the piece table, so queues of equal length can take 1.5× as long as each other. A worker
 * about to run dry therefore takes work from the fullest queue: that worker hands back the back
 * half of what it has not started (`release`), and this thread sends those requests on, as if
 * newly submitted. The workers share one table of encoded pieces
 * (piece-table.ts), so what one has encoded the others need not. Readers tokenize far ahead
 * of use (domain-reader.ts), so a queue can hold many blocks of other domains; a reader that is
 * actually waiting for a block calls `expedite`, and the worker runs that request next. This
 * changes only when a request runs, never its result.
 */
import { Worker } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import { loadTokenizer, tokenizerInfo, type LoadedTokenizer, type TokenizerFiles, type TokenizerInfo } from "./tokenizer.js";
import { PieceTable } from "./piece-table.js";
import type { EncodeReply, ReleaseReply, StatsReply, WorkerRequest, WorkerSetup, WorkerStats } from "./worker.js";

/** The compiled worker. Under vitest this module runs from src/*.ts, so point at dist/ (built by `npm test`). */
function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith(".ts")) return here.replace(/([\\/])src([\\/]tokenize[\\/])pool\.ts$/, "$1dist$1src$2worker.js");
  return here.replace(/pool\.js$/, "worker.js");
}

interface Pending {
  resolve(docs: Int32Array[]): void;
  reject(error: Error): void;
}

/** A submitted encode: its result, and the handle `expedite` takes. */
export interface EncodeTicket {
  readonly id: number;
  readonly done: Promise<Int32Array[]>;
}

/** One view per document into a batch's concatenated ids. */
function split(batch: { readonly ids: Int32Array; readonly ends: Int32Array }): Int32Array[] {
  const docs: Int32Array[] = [];
  let start = 0;
  for (let i = 0; i < batch.ends.length; i++) {
    docs.push(batch.ids.subarray(start, batch.ends[i]));
    start = batch.ends[i];
  }
  return docs;
}

export class TokenizerPool implements TokenizerInfo {
  readonly vocabSize: number;
  readonly eosId: number;
  readonly padId: number;
  private localTokenizer: LoadedTokenizer | undefined;
  private readonly workers: Worker[] = [];
  private readonly inFlight: number[] = [];
  /** UTF-16 units of the texts each worker holds: what `submit` balances. */
  private readonly queuedChars: number[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly statsPending = new Map<number, { resolve(stats: WorkerStats): void; reject(error: Error): void }>();
  /** Which worker holds each unanswered request, its texts (to send on if released) and characters, and whether it was expedited. */
  private readonly holder = new Map<number, { worker: number; chars: number; texts: readonly string[]; expedited: boolean }>();
  /** Workers asked to release queued requests and not yet answered: one request each at a time. */
  private readonly releasing = new Set<number>();
  /** Requests moved from one worker's queue to another's so far (diagnostics, tests). */
  moved = 0;
  private nextId = 0;
  private closed = false;

  /**
   * `cacheDir`: where `tokenizerInfo` keeps vocab size / EOS / pad, so that a run over
   * pre-tokenized data never parses tokenizer.json at all (see tokenizerInfo).
   */
  constructor(
    private readonly files: TokenizerFiles,
    private readonly requestedWorkers: number,
    cacheDir?: string,
  ) {
    const info = tokenizerInfo(files, cacheDir);
    this.vocabSize = info.vocabSize;
    this.eosId = info.eosId;
    this.padId = info.padId;
  }

  /** This thread's own tokenizer, loaded on first use: encoding with `workers: 0`, and decoding for tools. */
  private get local(): LoadedTokenizer {
    return (this.localTokenizer ??= loadTokenizer(this.files));
  }

  /** Workers start on the first text to encode: a run over pre-tokenized data never pays for them. */
  private startWorkers(): void {
    // The workers share one table of encoded pieces (piece-table.ts): otherwise each fills its own
    // cache, and on a cold corpus that repeated work is what keeps the pool from scaling.
    const setup: WorkerSetup = { files: this.files, pieceTable: PieceTable.allocate() };
    for (let w = 0; w < this.requestedWorkers; w++) {
      const worker = new Worker(workerFile(), { workerData: setup });
      worker.on("message", (reply: EncodeReply | StatsReply | ReleaseReply) =>
        "stats" in reply ? this.onStats(w, reply) : "released" in reply ? this.onReleased(w, reply) : this.onReply(w, reply),
      );
      worker.on("error", (error: unknown) => this.failAll(error instanceof Error ? error : new Error(String(error))));
      // A worker that exits (crash, or close() while requests are pending) must not leave a caller awaiting forever.
      worker.on("exit", (code) => this.failAll(new Error(`tokenizer worker exited (code ${code}) with requests pending`)));
      worker.unref();
      this.workers.push(worker);
      this.inFlight.push(0);
      this.queuedChars.push(0);
    }
  }

  get numWorkers(): number {
    return this.requestedWorkers;
  }

  /** Encode texts (each gets EOS appended); resolves with one Int32Array per text, in order. */
  encode(texts: readonly string[]): Promise<Int32Array[]> {
    return this.submit(texts).done;
  }

  /** `encode`, returning a ticket that `expedite` can move to the head of the queue. */
  submit(texts: readonly string[]): EncodeTicket {
    if (this.closed) return { id: -1, done: Promise.reject(new Error("tokenizer pool is closed")) };
    if (this.requestedWorkers === 0 || texts.length === 0) return { id: -1, done: Promise.resolve(split(this.local.encodeBatch(texts))) };
    if (this.workers.length === 0) this.startWorkers();
    let chars = 0;
    for (const t of texts) chars += t.length;
    const id = this.nextId++;
    const done = new Promise<Int32Array[]>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.send(id, { worker: -1, chars, texts, expedited: false });
    return { id, done };
  }

  /** Post request `id` to the worker with the fewest characters queued, then the fewest requests, then the lowest index. Only the speed depends on this choice. */
  private send(id: number, request: { worker: number; chars: number; texts: readonly string[]; expedited: boolean }): void {
    let w = 0;
    for (let i = 1; i < this.workers.length; i++) {
      const fewer = this.queuedChars[i] - this.queuedChars[w] || this.inFlight[i] - this.inFlight[w];
      if (fewer < 0) w = i;
    }
    this.inFlight[w] += 1;
    this.queuedChars[w] += request.chars;
    this.holder.set(id, { ...request, worker: w });
    this.workers[w].ref();
    this.workers[w].postMessage({ type: "encode", id, texts: request.texts } satisfies WorkerRequest);
    if (request.expedited && this.inFlight[w] > 1) this.workers[w].postMessage({ type: "expedite", id } satisfies WorkerRequest);
  }

  /** Have the worker holding this request run it next (someone is waiting on it). No-op once answered. */
  expedite(ticket: EncodeTicket): void {
    const held = this.holder.get(ticket.id);
    if (held === undefined) return;
    held.expedited = true;
    if (this.inFlight[held.worker] > 1) this.workers[held.worker].postMessage({ type: "expedite", id: ticket.id } satisfies WorkerRequest);
  }

  /**
   * Worker `idle` has at most the request it is running: ask the worker with the most characters
   * queued behind its running one (at least two requests) to release the back half of them.
   */
  private rebalance(idle: number): void {
    if (this.inFlight[idle] > 1 || this.closed) return;
    let from = -1;
    for (let i = 0; i < this.workers.length; i++) {
      if (i === idle || this.inFlight[i] < 3 || this.releasing.has(i)) continue;
      if (from < 0 || this.queuedChars[i] > this.queuedChars[from]) from = i;
    }
    if (from < 0) return;
    this.releasing.add(from);
    this.workers[from].postMessage({ type: "release", id: this.nextId++ } satisfies WorkerRequest);
  }

  /** Requests a worker took off its queue unstarted: each goes to the worker with the least queued now. */
  private onReleased(worker: number, reply: ReleaseReply): void {
    this.releasing.delete(worker);
    for (const id of reply.released) {
      const held = this.holder.get(id);
      if (held === undefined) continue; // not ours (cannot happen): nothing to send on
      this.inFlight[worker] -= 1;
      this.queuedChars[worker] -= held.chars;
      this.moved += 1;
      this.send(id, held);
    }
    if (this.inFlight[worker] === 0) this.workers[worker].unref();
  }

  /** Each worker's cache lookups and CPU seconds so far (benchmarks, diagnostics); empty before the workers start. */
  workerStats(): Promise<WorkerStats[]> {
    return Promise.all(
      this.workers.map(
        (worker) =>
          new Promise<WorkerStats>((resolve, reject) => {
            const id = this.nextId++;
            this.statsPending.set(id, { resolve, reject });
            worker.ref();
            worker.postMessage({ type: "stats", id } satisfies WorkerRequest);
          }),
      ),
    );
  }

  private onStats(worker: number, reply: StatsReply): void {
    if (this.inFlight[worker] === 0) this.workers[worker].unref();
    this.statsPending.get(reply.id)?.resolve(reply.stats);
    this.statsPending.delete(reply.id);
  }

  decode(ids: ArrayLike<number>): string {
    return this.local.decode(ids);
  }

  private onReply(worker: number, reply: EncodeReply): void {
    this.inFlight[worker] -= 1;
    this.queuedChars[worker] -= this.holder.get(reply.id)?.chars ?? 0;
    this.holder.delete(reply.id);
    if (this.inFlight[worker] === 0) this.workers[worker].unref();
    this.rebalance(worker);
    const waiter = this.pending.get(reply.id);
    if (waiter === undefined) return;
    this.pending.delete(reply.id);
    if ("error" in reply) {
      waiter.reject(new Error(`tokenizer worker failed: ${reply.error}`));
      return;
    }
    waiter.resolve(split(reply));
  }

  private failAll(error: Error): void {
    for (const waiter of [...this.pending.values(), ...this.statsPending.values()]) waiter.reject(error);
    this.pending.clear();
    this.statsPending.clear();
    this.holder.clear();
  }

  async close(): Promise<void> {
    this.closed = true;
    // A worker's terminate() promise is not backed by anything that keeps the event loop alive
    // (seen on Node 20 with workers mid-request), so a top-level `await close()` could end the
    // process unsettled (exit code 13). A timer holds the loop open until every worker is gone.
    const keepAlive = setInterval(() => undefined, 1000);
    try {
      await Promise.all(this.workers.map((w) => w.terminate()));
    } finally {
      clearInterval(keepAlive);
    }
    this.failAll(new Error("tokenizer pool is closed"));
  }
}
