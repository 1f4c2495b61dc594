/**
 * The batch builder behind `mixload serve`: the Loader, asked for one step at a time with that
 * step's weights. Two implementations of one interface:
 *
 * - `worker` (default): the Loader runs in a worker_threads worker (builder-worker.ts). Building
 *   a step — best-fit rounds over up to buffer_docs documents, laying out the arrays, the
 *   step digest, the loader state snapshot — can take tens of ms; in the service's thread it
 *   blocked the event loop, so a re-ask for an already built step waited behind it. In the
 *   worker the main thread only does ZeroMQ I/O and bookkeeping; the batch arrays come back
 *   as transferred buffers (no copy).
 * - `inline`: the same code in the calling thread (the old behaviour; a fallback and the
 *   bench's anchor).
 *
 * Both run exactly the same Loader calls with the same weights, so batches are identical.
 * Loader states travel as MessagePack bytes (`packState`), decoded only when a `state`
 * request needs one.
 */
import { Worker } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import { pack, unpack } from "msgpackr";
import { assembleBatch, batchDigest, type Batch } from "../batch/assemble.js";
import type { LoadedConfig } from "../config/load.js";
import type { Loader, LoaderState } from "../loader/loader.js";
import { ConfigError, DataError } from "../util/errors.js";
import type { DomainInfo } from "../../mixers/contract.js";
import type { SelectionStats } from "../select/open.js";
import { provenanceBuffers, stepProvenance, type StepProvenance } from "./provenance.js";

export type BuilderMode = "worker" | "inline";

/** What the service needs to know about the loader, fixed for the run. */
export interface BuilderInfo {
  domains: string[];
  seqLen: number;
  vocabSize: number;
  eosId: number;
  padId: number;
  domainInfo: DomainInfo[];
  /** Documents kept and dropped per domain by selection and dedup (fixed at open), when any domain selects. */
  selection?: Record<string, SelectionStats>;
}

/**
 * The loader counters `stats` reports (prefetched steps included), indexed by domain. Typed
 * arrays (the worker builder transfers them with each build): two 64-key objects per step were a
 * large part of what the service's main thread allocated per step (serve.latency bench); `stats`
 * names them on demand.
 */
export interface BuilderStats {
  documents: Float64Array;
  epochs: Float64Array;
}

export interface BuildResult {
  batch: Batch;
  /** `batchDigest(batch)`, what the run log records. */
  digest: string;
  /** [world]: non-padding tokens in each rank's rows. */
  rankTokens: Float64Array;
  /** [world × domains]: non-padding tokens per (rank, domain). */
  rankDomainTokens: Float64Array;
  /** The loader state after this step (= before the next one), packed. */
  stateAfter: Uint8Array;
  stats: BuilderStats;
  /** Where every segment came from (serve's `provenance` op). */
  provenance: StepProvenance;
}

export interface BatchBuilder {
  readonly mode: BuilderMode;
  readonly info: BuilderInfo;
  /** The step the next `build` builds. */
  readonly step: number;
  /** The loader state before the next build, packed (see `unpackState`). */
  readonly state: Uint8Array;
  readonly stats: BuilderStats;
  /** Continue from a loader state (before the first build). */
  restore(state: LoaderState): Promise<void>;
  /** Build the next step with `weights`; null when the data ran out. */
  build(weights: readonly number[]): Promise<BuildResult | null>;
  close(): Promise<void>;
}

/** Lanes [first, first + count) of the run's `lanes` (a node service builds only its own; default all). */
export interface LaneRange {
  first: number;
  count: number;
}

export interface BuilderOptions {
  mode?: BuilderMode;
  /** Tokenizer workers (overrides the config). */
  workers?: number;
  lanes?: LaneRange;
}

/** Ranks whose rows a builder of `lanes` builds: all of the world, or a node's share. */
export function builderRanks(loaded: LoadedConfig, lanes: LaneRange | undefined): number {
  const total = (loaded.config as { lanes?: number }).lanes ?? 1;
  return lanes === undefined ? loaded.config.world : (loaded.config.world * lanes.count) / total;
}

/** Own ArrayBuffer (msgpackr packs into a shared scratch buffer): safe to transfer. */
export const packState = (s: LoaderState): Uint8Array => new Uint8Array(pack(s));
export const unpackState = (b: Uint8Array): LoaderState => unpack(b) as LoaderState;

/** Per-rank token counts of a global batch (what a rank's first fetch adds to `stats`). */
export function rankCounts(batch: Batch, world: number, domains: number): { rankTokens: Float64Array; rankDomainTokens: Float64Array } {
  const rankTokens = new Float64Array(world);
  const rankDomainTokens = new Float64Array(world * domains);
  const per = batch.domain_ids.length / world;
  const ids = batch.domain_ids;
  for (let r = 0; r < world; r++) {
    let tokens = 0;
    const base = r * domains;
    for (let i = r * per, end = (r + 1) * per; i < end; i++) {
      const d = ids[i];
      if (d >= 0) {
        rankDomainTokens[base + d] += 1;
        tokens += 1;
      }
    }
    rankTokens[r] = tokens;
  }
  return { rankTokens, rankDomainTokens };
}

/** The core both builders share: one step of the loader and everything the service files with it. */
export async function buildStep(loader: Loader, weights: readonly number[], world: number): Promise<BuildResult | null> {
  let batch = await loader.next(weights);
  if (batch === null) {
    // A node service's lanes ran out: the other nodes' lanes may not have (one service ends when
    // every lane is empty), so it serves padding rows — what one service puts in an empty lane's place.
    if (world === loader.config.world) return null;
    batch = assembleBatch(
      Array.from({ length: world * loader.config.batch_size }, () => ({ items: [] })),
      loader.seqLen,
      loader.tokenizer.padId,
    );
  }
  const { rankTokens, rankDomainTokens } = rankCounts(batch, world, loader.domains.length);
  return {
    batch,
    digest: batchDigest(batch),
    rankTokens,
    rankDomainTokens,
    stateAfter: packState(loader.state()),
    stats: loaderStats(loader),
    provenance: stepProvenance(loader),
  };
}

export async function loaderInfo(loader: Loader): Promise<BuilderInfo> {
  const tk = loader.tokenizer;
  const selection = loader.selectionStats();
  return {
    domains: [...loader.domains],
    seqLen: loader.seqLen,
    vocabSize: tk.vocabSize,
    eosId: tk.eosId,
    padId: tk.padId,
    domainInfo: await loader.domainInfo(),
    ...(selection === undefined ? {} : { selection }),
  };
}

export function loaderStats(loader: Loader): BuilderStats {
  return loader.domainCounts();
}

export async function openBuilder(loaded: LoadedConfig, options: BuilderOptions = {}): Promise<BatchBuilder> {
  return (options.mode ?? "worker") === "inline"
    ? InlineBuilder.open(loaded, options.workers, options.lanes)
    : WorkerBuilder.open(loaded, options.workers, options.lanes);
}

class InlineBuilder implements BatchBuilder {
  readonly mode = "inline" as const;
  state: Uint8Array;
  stats: BuilderStats;

  private constructor(
    private readonly loader: Loader,
    readonly info: BuilderInfo,
    private readonly world: number,
  ) {
    this.state = packState(loader.state());
    this.stats = loaderStats(loader);
  }

  static async open(loaded: LoadedConfig, workers: number | undefined, lanes: LaneRange | undefined): Promise<InlineBuilder> {
    // Imported here: the default (worker) builder loads the loader in its own thread only, so the
    // service's thread never compiles the tokenizer library.
    const { Loader } = await import("../loader/loader.js");
    const loader = await Loader.open(loaded, { workers, ...(lanes !== undefined ? { lanes } : {}) });
    try {
      return new InlineBuilder(loader, await loaderInfo(loader), builderRanks(loaded, lanes));
    } catch (e) {
      await loader.close();
      throw e;
    }
  }

  get step(): number {
    return this.loader.step;
  }

  async restore(state: LoaderState): Promise<void> {
    await this.loader.restore(state);
    this.state = packState(this.loader.state());
    this.stats = loaderStats(this.loader);
  }

  async build(weights: readonly number[]): Promise<BuildResult | null> {
    const r = await buildStep(this.loader, weights, this.world);
    if (r !== null) {
      this.state = r.stateAfter;
      this.stats = r.stats;
    }
    return r;
  }

  close(): Promise<void> {
    return this.loader.close();
  }
}

// ---- the worker ------------------------------------------------------------------------

/** Messages to the worker. */
export type BuilderRequest =
  | { type: "open"; id: number; loaded: LoadedConfig; workers?: number; lanes?: LaneRange }
  | { type: "restore"; id: number; state: LoaderState }
  | { type: "build"; id: number; weights: number[] }
  | { type: "close"; id: number };

/** Messages from the worker: `value` is the request's result. */
export type BuilderReply =
  { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string; stack?: string; name?: string; fields?: Record<string, unknown> };

/** Rebuild a worker's error; DataError and ConfigError come back as themselves (same message, fields). */
function workerError(reply: { error: string; stack?: string; name?: string; fields?: Record<string, unknown> }): Error {
  const proto = reply.name === "DataError" ? DataError.prototype : reply.name === "ConfigError" ? ConfigError.prototype : Error.prototype;
  const e = Object.assign(Object.create(proto) as Error, reply.fields ?? {});
  Object.defineProperty(e, "message", { value: reply.error, enumerable: false, writable: true, configurable: true });
  if (reply.name !== undefined) Object.defineProperty(e, "name", { value: reply.name, enumerable: false, writable: true, configurable: true });
  e.stack = reply.stack ?? `${reply.name ?? "Error"}: ${reply.error}`;
  return e;
}

/** What `open` and `restore` answer. */
export interface OpenedReply {
  info: BuilderInfo;
  step: number;
  state: Uint8Array;
  stats: BuilderStats;
}

/** A Batch without its methods-free typed arrays' ownership: sent with every buffer transferred. */
export function batchTransferList(r: BuildResult): ArrayBuffer[] {
  const b = r.batch;
  const list = [
    b.input_ids,
    b.targets,
    b.position_ids,
    b.domain_ids,
    b.cu_seqlens,
    b.rowSegments,
    b.rowMaxSeqlen,
    r.rankTokens,
    r.rankDomainTokens,
    r.stateAfter,
    r.stats.documents,
    r.stats.epochs,
  ]
    .map((a) => a.buffer as ArrayBuffer)
    .concat(provenanceBuffers(r.provenance));
  return [...new Set(list)];
}

/**
 * The builder thread's young generation. Its garbage is short-lived (chunks, refs, state
 * bytes), and V8 otherwise grows the young generation to ~48 MB. Under `--single-threaded-gc`
 * (src/cli/node-flags.ts) that put the serve.memory bench's stopped-consumer peak at
 * 297–301 MB; with 8 MB, 278–290 MB (and 244–250 MB serving 64 domains, from 280).
 */
const BUILDER_YOUNG_GENERATION_MB = 8;

/** The compiled worker. Under vitest this module runs from src/*.ts, so point at dist/ (built by `npm test`). */
function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith(".ts")) return here.replace(/([\\/])src([\\/]serve[\\/])builder\.ts$/, "$1dist$1src$2builder-worker.js");
  return here.replace(/builder\.js$/, "builder-worker.js");
}

type WithoutId<T> = T extends unknown ? Omit<T, "id"> : never;

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

class WorkerBuilder implements BatchBuilder {
  readonly mode = "worker" as const;
  info!: BuilderInfo;
  step = 0;
  state!: Uint8Array;
  stats!: BuilderStats;
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failed: Error | null = null;
  private closed = false;

  private constructor() {
    this.worker = new Worker(workerFile(), { resourceLimits: { maxYoungGenerationSizeMb: BUILDER_YOUNG_GENERATION_MB } });
    this.worker.on("message", (reply: BuilderReply) => {
      const p = this.pending.get(reply.id);
      if (p === undefined) return;
      this.pending.delete(reply.id);
      if (reply.ok) p.resolve(reply.value);
      else p.reject(workerError(reply));
    });
    this.worker.on("error", (e: unknown) => this.fail(e instanceof Error ? e : new Error(String(e))));
    this.worker.on("exit", (code) => this.fail(new Error(`the batch builder worker exited (code ${code})`)));
  }

  private fail(e: Error): void {
    if (this.failed === null && !this.closed) this.failed = e;
    for (const p of this.pending.values()) p.reject(this.failed ?? e);
    this.pending.clear();
  }

  private call<T>(req: WithoutId<BuilderRequest>): Promise<T> {
    if (this.failed !== null) return Promise.reject(this.failed);
    if (this.closed) return Promise.reject(new Error("the batch builder is closed"));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ ...req, id });
    });
  }

  private opened(r: OpenedReply): void {
    this.info = r.info;
    this.step = r.step;
    this.state = r.state;
    this.stats = r.stats;
  }

  static async open(loaded: LoadedConfig, workers: number | undefined, lanes: LaneRange | undefined): Promise<WorkerBuilder> {
    const b = new WorkerBuilder();
    try {
      // A LoadedConfig is plain data (zod output, strings): it crosses to the worker by structured clone.
      b.opened(await b.call<OpenedReply>({ type: "open", loaded: { config: loaded.config, baseDir: loaded.baseDir, file: loaded.file }, workers, lanes }));
    } catch (e) {
      await b.close();
      throw e;
    }
    return b;
  }

  async restore(state: LoaderState): Promise<void> {
    this.opened(await this.call<OpenedReply>({ type: "restore", state }));
  }

  async build(weights: readonly number[]): Promise<BuildResult | null> {
    const r = await this.call<BuildResult | null>({ type: "build", weights: Array.from(weights) });
    if (r !== null) {
      this.state = r.stateAfter;
      this.stats = r.stats;
      this.step += 1;
    }
    return r;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.failed === null) {
      try {
        await this.call({ type: "close" }); // closes the loader (tokenizer workers, files)
      } catch {
        // the worker is gone already
      }
    }
    this.closed = true;
    await this.worker.terminate();
  }
}
