/**
 * Simulated trainer ranks as worker threads (the serve.stall and serve.latency benches): real
 * ranks are separate processes, and ranks sharing one event loop queue behind each other's
 * replies, which a bench would count against the service.
 */
import { parentPort, Worker } from "node:worker_threads";

type RankMessage<R> = { ok: true; result: R } | { ok: false; error: string };

/** Parent side: one thread of `script` (a compiled dist/bench/*.js) per input; their results in order. */
export function runRankThreads<I, R>(script: string, inputs: readonly I[]): Promise<R[]> {
  return Promise.all(
    inputs.map((workerData, i) => {
      const worker = new Worker(script, { workerData });
      return new Promise<R>((resolve, reject) => {
        worker.once("message", (m: RankMessage<R>) => (m.ok ? resolve(m.result) : reject(new Error(`rank thread ${i}: ${m.error}`))));
        worker.once("error", reject);
      }).finally(() => void worker.terminate());
    }),
  );
}

/** Worker side: post the rank's result (or its failure) to the parent. */
export function reportToParent<R>(run: Promise<R>): void {
  run.then(
    (result) => parentPort!.postMessage({ ok: true, result } satisfies RankMessage<R>),
    (e: unknown) => parentPort!.postMessage({ ok: false, error: e instanceof Error ? (e.stack ?? e.message) : String(e) } satisfies RankMessage<R>),
  );
}
