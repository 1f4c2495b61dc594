/**
 * The TypeScript client (docs/PROTOCOL.md): a DEALER that sends one request at a time.
 *
 *   const c = new MixloadClient({ endpoint: "tcp://127.0.0.1:5555" });
 *   const info = await c.hello(rank, world);
 *   const b = await c.batch(info.next_step, rank);      // typed arrays, [B·L] row-major
 *   await c.feedback({ step: b.step, rank, domains: { news: { loss_sum, tokens } } });
 *
 * Re-ask: a request that gets no reply within `timeoutMs` is sent again on a fresh socket
 * (the "lazy pirate" pattern: a late reply to the abandoned socket can never be mistaken for
 * the next reply), up to `retries` times. Every op is safe to repeat: batches are a pure
 * function of (step, rank) and feedback re-sends are idempotent.
 */
import * as zmq from "zeromq";
import { decodeArrays, decodeHeader, encodeHeader, type DecodedArray } from "../protocol/codec.js";
import { decodeProvenance, type ProvenanceColumns } from "../protocol/provenance.js";
import {
  ERROR_CODES,
  WEIGHTS_TOPIC,
  type DomainMap,
  type ErrorCode,
  type FeedbackReply,
  type FeedbackRequest,
  type HelloReply,
  type StatsReply,
  type WeightsMessage,
} from "../protocol/types.js";

/** An error reply from the service, or a client-side timeout (`code: "timeout"`). */
export class MixloadError extends Error {
  constructor(
    readonly code: ErrorCode | "timeout",
    message: string,
    readonly field?: string,
  ) {
    super(`${code}: ${message}`);
    this.name = "MixloadError";
  }
}

export interface ClientOptions {
  endpoint: string;
  /** Per-attempt reply timeout (ms). Default 30 000. */
  timeoutMs?: number;
  /** Re-asks after a timeout before giving up. Default 3. */
  retries?: number;
  /** `batch()` retries `not_ready` for this long (ms) before throwing; 0 throws at once. Default 60 000. */
  notReadyWaitMs?: number;
  /** First `not_ready` back-off (ms), doubled up to `notReadyMaxPollMs`. Default 5. */
  notReadyPollMs?: number;
  /** Longest `not_ready` back-off (ms). Default 200. */
  notReadyMaxPollMs?: number;
  /** CURVE: needed when the service has `serve.curve` (see CurveClientKeys). */
  curve?: CurveClientKeys;
}

/**
 * CURVE keys of a client (Z85 strings): the service's public key (its `.pub` file), and this
 * client's own pair; without a pair an ephemeral one is made (fine unless the service keeps an
 * allow-list, `serve.curve.client_keys_file`).
 */
export interface CurveClientKeys {
  serverKey: string;
  publicKey?: string;
  secretKey?: string;
}

function applyCurveClient(socket: zmq.Socket, keys: CurveClientKeys | undefined): void {
  if (keys === undefined) return;
  const pair = keys.publicKey !== undefined && keys.secretKey !== undefined ? { publicKey: keys.publicKey, secretKey: keys.secretKey } : zmq.curveKeyPair();
  socket.curveServerKey = keys.serverKey;
  socket.curvePublicKey = pair.publicKey;
  socket.curveSecretKey = pair.secretKey;
}

/** One rank's batch, arrays named and typed exactly as the `batch` reply. */
export interface ClientBatch {
  step: number;
  rank: number;
  weightsVersion: number;
  weights: DomainMap<number>;
  maxSeqlen: number;
  /** Rows (batch_size) and columns (seq_len) of the four [B, L] arrays. */
  rows: number;
  seqLen: number;
  input_ids: Int32Array;
  targets: Int32Array;
  position_ids: Int32Array;
  domain_ids: Int16Array;
  cu_seqlens: Int32Array;
  /** The full reply header (extension fields included). */
  header: Record<string, unknown>;
}

export interface RawReply {
  header: Record<string, unknown>;
  arrays: DecodedArray[];
}

export type FeedbackInput = Omit<FeedbackRequest, "v" | "op">;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class MixloadClient {
  private socket: zmq.Dealer | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly notReadyWaitMs: number;
  private readonly notReadyPollMs: number;
  private readonly notReadyMaxPollMs: number;
  private closed = false;

  constructor(private readonly options: ClientOptions) {
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.retries = options.retries ?? 3;
    this.notReadyWaitMs = options.notReadyWaitMs ?? 60_000;
    this.notReadyPollMs = options.notReadyPollMs ?? 5;
    this.notReadyMaxPollMs = options.notReadyMaxPollMs ?? 200;
  }

  private connect(): zmq.Dealer {
    // A request queued (or backing off after not_ready) when close() ran must not open a new socket.
    if (this.closed) throw new MixloadError("timeout", `the client of ${this.options.endpoint} is closed`);
    if (this.socket === null) {
      // sendTimeout too: after a refused handshake (wrong CURVE key, protocol error) libzmq drops
      // the pipe, and a DEALER with no pipe blocks on send forever unless told otherwise.
      const s = new zmq.Dealer({ linger: 0, receiveTimeout: this.timeoutMs, sendTimeout: this.timeoutMs });
      applyCurveClient(s, this.options.curve);
      s.connect(this.options.endpoint);
      this.socket = s;
    }
    return this.socket;
  }

  private reset(): void {
    this.socket?.close();
    this.socket = null;
  }

  /**
   * Send raw frames (frame 0 and array frames; the client adds the empty delimiter) and return
   * the reply's frames. One request in flight per client; timeouts re-ask on a fresh socket.
   */
  requestFrames(frames: readonly (Uint8Array | string)[]): Promise<Buffer[]> {
    const run = async (): Promise<Buffer[]> => {
      for (let attempt = 0; ; attempt++) {
        const s = this.connect();
        // A watchdog besides the socket timeouts: whatever state libzmq is in (a refused CURVE
        // handshake, a peer that vanished mid-send), one attempt never outlives its deadline.
        // Closing the socket makes any pending send/receive settle at once.
        let expired = false;
        // (setTimeout takes at most 2^31 − 1 ms; a longer timeout leaves it to the socket options.)
        const watchdog = setTimeout(
          () => {
            expired = true;
            s.close();
          },
          Math.min(this.timeoutMs + 250, 2 ** 31 - 1),
        );
        try {
          await s.send(["", ...frames]);
          const reply = await s.receive();
          // Drop the delimiter the ROUTER echoes back.
          return reply.length > 0 && reply[0].length === 0 ? reply.slice(1) : reply;
        } catch (e) {
          this.reset();
          if ((e as { code?: string }).code !== "EAGAIN" && !expired) throw e;
          if (attempt >= this.retries)
            throw new MixloadError("timeout", `no reply from ${this.options.endpoint} within ${this.timeoutMs} ms (${attempt + 1} attempts)`);
        } finally {
          clearTimeout(watchdog);
        }
      }
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => {});
    return p;
  }

  /** Send a header; return the reply header and arrays. Error replies throw MixloadError. */
  async request(header: Record<string, unknown>): Promise<RawReply> {
    const frames = await this.requestFrames([encodeHeader(header)]);
    const h = decodeHeader(frames[0]);
    if (h.ok !== true) {
      const err = (h.error ?? {}) as { code?: unknown; message?: unknown; field?: unknown };
      const code = (ERROR_CODES as readonly unknown[]).includes(err.code) ? (err.code as ErrorCode) : "internal";
      throw new MixloadError(code, String(err.message ?? "error reply without a message"), typeof err.field === "string" ? err.field : undefined);
    }
    return { header: h, arrays: decodeArrays(h.arrays, frames.slice(1)) };
  }

  async hello(rank: number, world: number): Promise<HelloReply> {
    return (await this.request({ v: 1, op: "hello", rank, world })).header as unknown as HelloReply;
  }

  /** Rank `rank`'s share of `step`; waits out `not_ready` (dynamic mixers) up to notReadyWaitMs. */
  async batch(step: number, rank: number): Promise<ClientBatch> {
    const start = Date.now();
    let pause = this.notReadyPollMs;
    for (;;) {
      try {
        return toBatch(await this.request({ v: 1, op: "batch", step, rank }));
      } catch (e) {
        if (!(e instanceof MixloadError && e.code === "not_ready") || this.closed || Date.now() - start + pause > this.notReadyWaitMs) throw e;
        await sleep(pause);
        pause = Math.min(this.notReadyMaxPollMs, pause * 2);
      }
    }
  }

  async feedback(fb: FeedbackInput): Promise<{ step: number; complete: boolean }> {
    const h = (await this.request({ v: 1, op: "feedback", ...fb })).header as unknown as FeedbackReply;
    return { step: h.step, complete: h.complete };
  }

  /** The resume blob (for `mixload serve --resume FILE`) and the step it resumes at. */
  async state(step?: number): Promise<{ step: number; state: Uint8Array }> {
    const r = await this.request(step === undefined ? { v: 1, op: "state" } : { v: 1, op: "state", step });
    const a = r.arrays.find((x) => x.name === "state");
    if (a === undefined || !(a.array instanceof Uint8Array)) throw new MixloadError("internal", "state reply without a uint8 `state` array");
    return { step: r.header.step as number, state: a.array };
  }

  async stats(): Promise<StatsReply> {
    return (await this.request({ v: 1, op: "stats" })).header as unknown as StatsReply;
  }

  /**
   * (extension) Where every token of rank `rank`'s batch of `step` came from: one entry per
   * document segment (row, first column, length, domain, source file, line or row in it, epoch,
   * token offset in the document). Only for steps still in the service's window: older ones are
   * `step_out_of_range` (rebuild them with `mixload provenance --log RUN_DIR`).
   * `provenanceSegments(columns, domains)` turns the columns into records.
   */
  async provenance(step: number, rank: number): Promise<ProvenanceColumns> {
    const r = await this.request({ v: 1, op: "provenance", step, rank });
    try {
      return decodeProvenance(r.header, r.arrays);
    } catch (e) {
      throw new MixloadError("internal", (e as Error).message);
    }
  }

  /** Close the socket; requests still queued or backing off fail instead of reconnecting. */
  close(): void {
    this.closed = true;
    this.reset();
  }
}

function toBatch(r: RawReply): ClientBatch {
  const get = <T>(name: string, ctor: abstract new (...args: never[]) => T): { array: T; shape: number[] } => {
    const a = r.arrays.find((x) => x.name === name);
    if (a === undefined || !(a.array instanceof ctor)) throw new MixloadError("internal", `batch reply: array ${name} missing or of the wrong dtype`);
    return { array: a.array as T, shape: a.shape };
  };
  const ids = get("input_ids", Int32Array);
  const h = r.header;
  return {
    step: h.step as number,
    rank: h.rank as number,
    weightsVersion: h.weights_version as number,
    weights: h.weights as DomainMap<number>,
    maxSeqlen: h.max_seqlen as number,
    rows: ids.shape[0],
    seqLen: ids.shape[1],
    input_ids: ids.array,
    targets: get("targets", Int32Array).array,
    position_ids: get("position_ids", Int32Array).array,
    domain_ids: get("domain_ids", Int16Array).array,
    cu_seqlens: get("cu_seqlens", Int32Array).array,
    header: h,
  };
}

/** Observe the `weights` topic: `for await (const m of subscribeWeights(ep)) ...`; `close()` ends it. */
export class WeightsSubscriber implements AsyncIterable<WeightsMessage> {
  private readonly socket = new zmq.Subscriber({ linger: 0 });

  constructor(endpoint: string, options: { curve?: CurveClientKeys } = {}) {
    applyCurveClient(this.socket, options.curve);
    this.socket.connect(endpoint);
    this.socket.subscribe(WEIGHTS_TOPIC);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<WeightsMessage> {
    for (;;) {
      let frames: Buffer[];
      try {
        frames = await this.socket.receive();
      } catch {
        return;
      }
      if (frames.length === 2 && frames[0].toString() === WEIGHTS_TOPIC) yield decodeHeader(frames[1]) as unknown as WeightsMessage;
    }
  }

  close(): void {
    this.socket.close();
  }
}
