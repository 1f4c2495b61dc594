/**
 * Remote files: the ByteSource for `http://` and `https://` paths (the HF Hub, S3 presigned URLs,
 * any static server), read with HTTP range requests.
 *
 * - Open asks for byte 0 (`Range: bytes=0-0`) rather than HEAD: presigned URLs are often signed
 *   for GET only, and the answer also proves the server honours ranges. Size comes from
 *   `Content-Range`, and ETag / Last-Modified become the identity saved in resume state.
 * - Every later request carries `If-Match: <etag>` (or `If-Unmodified-Since` when the ETag is weak
 *   or absent) and its `Content-Range` total and ETag are checked too, so a file replaced on the
 *   server mid-run fails with "changed on the server since it was opened" instead of mixing two
 *   versions of the bytes.
 * - A request that fails transiently (5xx, 429, a reset connection, a body cut short, no answer
 *   within the timeout) is retried after 100, 200, 400 … ms (capped); the delays have no jitter so
 *   a run's behaviour is reproducible. Other 4xx fail at once. Either way the error is one line
 *   naming the URL.
 * - A server that answers a range request with the whole file (HTTP 200) is refused, never taken
 *   as the range.
 * Connections are kept alive (one agent per file), and requests in flight are capped so a burst of
 * reads queues here, before its timeout starts, rather than in the agent.
 */
import * as http from "node:http";
import * as https from "node:https";
import type { ByteSource } from "./byte-source.js";
import { DataError } from "../util/errors.js";

export interface HttpOptions {
  /** Tries per request, the first included. Default 5. */
  readonly attempts?: number;
  /** Retry k (1-based) waits min(baseDelayMs · 2^(k−1), maxDelayMs). Defaults 100 and 5000. */
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  /** A range request (headers and body) must finish within this; a streamed scan must make progress within it. Default 30 000. */
  readonly timeoutMs?: number;
  /** Requests in flight at once for this file (and kept-alive connections). Default 8. */
  readonly concurrency?: number;
}

const DEFAULTS: Required<HttpOptions> = { attempts: 5, baseDelayMs: 100, maxDelayMs: 5000, timeoutMs: 30_000, concurrency: 8 };
const MAX_REDIRECTS = 5;

/** A failure worth retrying; its message says what happened on this attempt. */
class Transient extends Error {}

/** The response headers we act on. */
interface Head {
  readonly status: number;
  readonly statusText: string;
  readonly etag?: string;
  readonly lastModified?: string;
  readonly contentRange?: string;
  readonly contentLength?: number;
}

/** What was learned at open; later responses must agree with it. */
interface Version {
  readonly size: number;
  readonly etag?: string;
  readonly lastModified?: string;
}

export class HttpByteSource implements ByteSource {
  readonly remote = true;
  readonly size: number;
  readonly identity: string;
  private readonly agent: http.Agent;
  private readonly options: Required<HttpOptions>;
  private readonly slots: Limiter;
  private readonly version: Version;

  private constructor(
    readonly name: string,
    version: Version,
    agent: http.Agent,
    options: Required<HttpOptions>,
  ) {
    this.version = version;
    this.size = version.size;
    this.identity = `etag=${version.etag ?? ""};last_modified=${version.lastModified ?? ""};size=${version.size}`;
    this.agent = agent;
    this.options = options;
    this.slots = new Limiter(options.concurrency);
  }

  static async open(url: string, options: HttpOptions = {}): Promise<HttpByteSource> {
    const opts = { ...DEFAULTS, ...options };
    const agent = new (url.startsWith("https:") ? https.Agent : http.Agent)({ keepAlive: true, maxSockets: opts.concurrency });
    try {
      const version = await withRetries(url, opts, async (signal) => {
        const res = await request(url, agent, { Range: "bytes=0-0" }, signal);
        const head = headOf(res);
        if (head.status === 206) {
          const total = parseContentRange(head.contentRange)?.total;
          if (total === undefined) throw permanent(url, `HTTP 206 without a usable Content-Range (${head.contentRange ?? "none"})`);
          await readBody(res, 1, url);
          return { size: total, etag: head.etag, lastModified: head.lastModified };
        }
        res.destroy(); // never download a whole file to learn its size
        // An empty file has no byte 0: "416, bytes */0" is its answer.
        if (head.status === 416 && parseUnsatisfiedTotal(head.contentRange) === 0) return { size: 0, etag: head.etag, lastModified: head.lastModified };
        if (head.status === 200) throw permanent(url, "the server ignores range requests (HTTP 200 to Range: bytes=0-0); remote files need range support");
        throw statusError(url, head);
      });
      return new HttpByteSource(url, version, agent, opts);
    } catch (e) {
      agent.destroy();
      throw e;
    }
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (!(offset >= 0 && length >= 0 && offset + length <= this.size)) {
      throw new DataError("bad_format", this.name, undefined, `range ${offset}+${length} is outside the file (${this.size} bytes)`);
    }
    if (length === 0) return new Uint8Array(0);
    const last = offset + length - 1;
    return this.slots.run(() =>
      withRetries(this.name, this.options, async (signal) => {
        const res = await request(this.name, this.agent, { Range: `bytes=${offset}-${last}`, ...this.preconditions() }, signal);
        const head = headOf(res);
        try {
          if (head.status === 206) {
            this.checkSame(head);
            const range = parseContentRange(head.contentRange);
            if (range?.start !== offset || range.end !== last) {
              throw permanent(this.name, `asked for bytes ${offset}-${last}, the server sent ${head.contentRange ?? "no Content-Range"}`);
            }
            return await readBody(res, length, this.name);
          }
          // Some servers answer a range covering the whole file with 200 and the file: that is the range.
          if (head.status === 200 && offset === 0 && length === this.size && head.contentLength === this.size) {
            this.checkSame(head);
            return await readBody(res, length, this.name);
          }
        } catch (e) {
          res.destroy(); // a connection with an unread body cannot be reused
          throw e;
        }
        res.destroy();
        throw this.rangeFailure(head, offset, last);
      }),
    );
  }

  /**
   * Stream bytes [from, size) to `onChunk` (a view valid during the call) with one GET, for a
   * one-pass scan. A connection lost midway resumes at the last byte received, so retries cost
   * only what was lost; the attempt budget counts failures in a row without progress.
   */
  async scan(onChunk: (bytes: Buffer, position: number) => void, from = 0): Promise<void> {
    let pos = from;
    let failures = 0;
    while (pos < this.size) {
      const controller = new AbortController();
      let timer = setTimeout(() => controller.abort(), this.options.timeoutMs);
      const progress = (): void => {
        clearTimeout(timer);
        timer = setTimeout(() => controller.abort(), this.options.timeoutMs);
      };
      const before = pos;
      try {
        const res = await request(this.name, this.agent, { Range: `bytes=${pos}-`, ...this.preconditions() }, controller.signal);
        const head = headOf(res);
        if (head.status !== 206) {
          res.destroy();
          throw this.rangeFailure(head, pos, this.size - 1);
        }
        this.checkSame(head);
        const range = parseContentRange(head.contentRange);
        if (range?.start !== pos) {
          res.destroy();
          throw permanent(this.name, `asked for bytes ${pos}-, the server sent ${head.contentRange ?? "no Content-Range"}`);
        }
        for await (const chunk of res as AsyncIterable<Buffer>) {
          progress();
          const n = Math.min(chunk.length, this.size - pos);
          onChunk(chunk.subarray(0, n), pos);
          pos += n;
        }
        if (pos < this.size) throw new Transient(`body ended at byte ${pos} of ${this.size}`);
      } catch (e) {
        const t = classify(e, this.options.timeoutMs, "no data for");
        if (!(t instanceof Transient)) throw t;
        failures = pos > before ? 1 : failures + 1;
        if (failures >= this.options.attempts) throw gaveUp(this.name, t, failures);
        await sleep(delayMs(this.options, failures));
      } finally {
        clearTimeout(timer);
      }
    }
  }

  close(): void {
    this.agent.destroy();
  }

  /** Conditional-request headers pinning the version seen at open. */
  private preconditions(): Record<string, string> {
    const { etag, lastModified } = this.version;
    // If-Match compares strongly: a weak ETag never matches, so fall back to the date.
    if (etag !== undefined && !etag.startsWith("W/")) return { "If-Match": etag };
    if (lastModified !== undefined) return { "If-Unmodified-Since": lastModified };
    return {};
  }

  /** Checks a successful response against the version seen at open (for servers that ignore preconditions). */
  private checkSame(head: Head): void {
    const { etag, size } = this.version;
    const total = parseContentRange(head.contentRange)?.total ?? head.contentLength;
    if (total !== undefined && total !== size) throw changed(this.name, `size ${size} → ${total}`);
    if (etag !== undefined && head.etag !== undefined && weak(head.etag) !== weak(etag)) throw changed(this.name, `etag ${etag} → ${head.etag}`);
  }

  private rangeFailure(head: Head, first: number, last: number): Error {
    if (head.status === 412) return changed(this.name, "the server refused If-Match/If-Unmodified-Since (HTTP 412)");
    if (head.status === 416) {
      const now = parseUnsatisfiedTotal(head.contentRange);
      return changed(this.name, `bytes ${first}-${last} are no longer there${now === undefined ? "" : ` (size ${this.size} → ${now})`}`);
    }
    if (head.status === 200)
      return permanent(
        this.name,
        `the server answered a range request with the whole file (HTTP 200 to Range: bytes=${first}-${last}); remote files need range support`,
      );
    return statusError(this.name, head);
  }
}

/** Run `attempt` until it succeeds, fails permanently, or `attempts` transient failures have happened. */
async function withRetries<T>(url: string, options: Required<HttpOptions>, attempt: (signal: AbortSignal) => Promise<T>): Promise<T> {
  for (let k = 1; ; k++) {
    try {
      return await attempt(AbortSignal.timeout(options.timeoutMs));
    } catch (e) {
      const t = classify(e, options.timeoutMs, "no complete response within");
      if (!(t instanceof Transient)) throw t;
      if (k >= options.attempts) throw gaveUp(url, t, k);
      await sleep(delayMs(options, k));
    }
  }
}

function delayMs(options: Required<HttpOptions>, retry: number): number {
  return Math.min(options.baseDelayMs * 2 ** (retry - 1), options.maxDelayMs);
}

/** DataErrors (4xx, changed files) pass through; network-level failures become Transient. */
function classify(e: unknown, timeoutMs: number, timeoutWording: string): Error {
  if (e instanceof DataError || e instanceof Transient) return e;
  const err = e as NodeJS.ErrnoException;
  if (err.name === "AbortError" || err.name === "TimeoutError") return new Transient(`${timeoutWording} ${timeoutMs} ms`);
  return new Transient(err.code ? `${err.code}: ${err.message}` : err.message);
}

/** GET `url`, following redirects (the HF Hub sends files to a CDN); resolves once headers arrive. */
async function request(url: string, agent: http.Agent, headers: Record<string, string>, signal: AbortSignal): Promise<http.IncomingMessage> {
  let target = url;
  for (let hop = 0; ; hop++) {
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const mod = target.startsWith("https:") ? https : http;
      // A redirect to another host gets a fresh connection: the agent is for the file's own host.
      const sameOrigin = new URL(target).origin === new URL(url).origin;
      const req = mod.get(target, { agent: sameOrigin ? agent : undefined, headers, signal }, resolve);
      req.on("error", reject);
    });
    const status = res.statusCode ?? 0;
    if (status < 300 || status >= 400 || status === 304 || res.headers.location === undefined) return res;
    res.resume();
    if (hop >= MAX_REDIRECTS) throw permanent(url, `more than ${MAX_REDIRECTS} redirects`);
    target = new URL(res.headers.location, target).toString();
  }
}

/** Exactly `length` bytes of body; fewer (a connection cut midway) is transient, more is a server bug. */
async function readBody(res: http.IncomingMessage, length: number, url: string): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let got = 0;
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      if (got + chunk.length > length) throw permanent(url, `body longer than the ${length} bytes asked for`);
      out.set(chunk, got);
      got += chunk.length;
    }
  } catch (e) {
    // A timeout (AbortError) keeps its own wording: see classify.
    if (e instanceof DataError || (e as Error).name === "AbortError") throw e;
    throw new Transient(`connection lost after ${got} of ${length} body bytes (${(e as Error).message})`);
  }
  if (got < length) throw new Transient(`body ended after ${got} of ${length} bytes`);
  return out;
}

function headOf(res: http.IncomingMessage): Head {
  const h = res.headers;
  const len = h["content-length"];
  return {
    status: res.statusCode ?? 0,
    statusText: res.statusMessage ?? "",
    etag: h.etag,
    lastModified: h["last-modified"],
    contentRange: h["content-range"],
    contentLength: len === undefined ? undefined : Number(len),
  };
}

/** `bytes a-b/total` (total may be `*`). */
function parseContentRange(v: string | undefined): { start: number; end: number; total?: number } | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(v?.trim() ?? "");
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === "*" ? undefined : Number(m[3]) };
}

/** The size in a 416's `bytes *\/total`. */
function parseUnsatisfiedTotal(v: string | undefined): number | undefined {
  const m = /^bytes \*\/(\d+)$/.exec(v?.trim() ?? "");
  return m ? Number(m[1]) : undefined;
}

function weak(etag: string): string {
  return etag.startsWith("W/") ? etag.slice(2) : etag;
}

function statusError(url: string, head: Head): Error {
  const line = `HTTP ${head.status}${head.statusText ? ` ${head.statusText}` : ""}`;
  if (head.status === 429 || head.status >= 500) return new Transient(line);
  return permanent(url, line);
}

function permanent(url: string, detail: string): DataError {
  return new DataError("unreadable_file", url, undefined, detail);
}

function changed(url: string, what: string): DataError {
  return new DataError("unreadable_file", url, undefined, `changed on the server since it was opened (${what})`);
}

function gaveUp(url: string, last: Transient, attempts: number): DataError {
  return new DataError("unreadable_file", url, undefined, `${last.message} (gave up after ${attempts} attempts)`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** At most `n` tasks running; the rest wait in order. */
class Limiter {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly n: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    // A finishing task hands its slot straight to the next waiter, so `running` never exceeds n.
    if (this.running >= this.n) await new Promise<void>((r) => this.waiting.push(r));
    else this.running++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
