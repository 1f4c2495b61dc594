/**
 * Client-side prefetch: a rank's batches in step order, each next one requested as soon as the
 * current one is handed out, so it arrives while the trainer computes (PyTorch DataLoader's
 * `prefetch_factor`, for the service).
 *
 * This is what makes `feedback_lag` 2 stall-free: batch s+1 is determined by the feedback of
 * step s−1, which every rank sent before asking for batch s, so it can be fetched during step
 * s. Until the last rank's feedback of s−1 lands the service answers `not_ready`; the prefetch
 * re-asks every few ms in the background, never in the trainer's way. With `depth` d the
 * requests run d steps ahead; more than lag − 1 only polls longer.
 *
 * Prefetches use their own connection, so `feedback()` on the trainer's client never queues
 * behind a background request.
 *
 * Resuming: a rank with prefetch has fetched one step more than it trained, so the service's
 * own view of "next step" (hello's `next_step`, the state written at shutdown) is ahead of the
 * trainer by `depth`. Save `client.state(step)` with each checkpoint and resume from that blob
 * (and `start` at that step), as PROTOCOL.md's `state` op intends.
 */
import { MixloadClient, MixloadError, type ClientBatch, type ClientOptions } from "./client.js";

export interface PrefetchOptions {
  /** First step to hand out (e.g. hello's `next_step` after a resume). Default 0. */
  start?: number;
  /** Steps requested ahead of the one handed out. Default 1 (right for feedback_lag 2). */
  depth?: number;
  /** One past the last step to fetch (the run's length): nothing beyond it is asked for. Default: none. */
  end?: number;
}

export class BatchPrefetcher {
  private readonly client: MixloadClient;
  private readonly ahead = new Map<number, Promise<ClientBatch>>();
  private nextStep: number;
  private readonly depth: number;
  private readonly end: number;

  constructor(
    options: ClientOptions,
    readonly rank: number,
    prefetch: PrefetchOptions = {},
  ) {
    // Background polls should notice readiness within a few ms, not after a long back-off.
    this.client = new MixloadClient({ notReadyMaxPollMs: 10, ...options });
    this.nextStep = prefetch.start ?? 0;
    this.depth = prefetch.depth ?? 1;
    this.end = prefetch.end ?? Infinity;
    if (!(Number.isInteger(this.depth) && this.depth >= 0)) throw new RangeError(`prefetch depth must be an integer ≥ 0, got ${this.depth}`);
  }

  /** The step the next `next()` returns. */
  get step(): number {
    return this.nextStep;
  }

  /** This rank's next batch; starts fetching the `depth` steps after it. */
  next(): Promise<ClientBatch> {
    const s = this.nextStep++;
    if (s >= this.end) return Promise.reject(new RangeError(`step ${s} is past the prefetcher's end (${this.end})`));
    const early = this.ahead.get(s);
    this.ahead.delete(s);
    // A step fetched early may have spent its not_ready budget before anyone needed it (a long
    // training step with feedback_lag 1): then ask again, now that the trainer is waiting.
    const current =
      early?.catch((e: unknown) =>
        e instanceof MixloadError && (e.code === "not_ready" || e.code === "timeout") ? this.client.batch(s, this.rank) : Promise.reject(e),
      ) ?? this.client.batch(s, this.rank);
    for (let k = s + 1; k <= s + this.depth && k < this.end; k++) {
      if (this.ahead.has(k)) continue;
      const p = this.client.batch(k, this.rank);
      p.catch(() => {}); // handled when handed out; never an unhandled rejection meanwhile
      this.ahead.set(k, p);
    }
    return current;
  }

  close(): void {
    this.ahead.clear();
    this.client.close();
  }
}
