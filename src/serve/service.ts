/**
 * The loader service (docs/PROTOCOL.md): a ROUTER answering hello/batch/feedback/state/stats
 * and a PUB announcing every weight change.
 *
 * One object owns each piece of state:
 * - the Loader builds steps strictly in order; the builder loop here runs it `prefetch` steps
 *   ahead of the highest step fetched, and keeps a window of built steps (batch, weights,
 *   digest, the loader state *before* the step) for re-asks and for `state` at any kept step;
 * - the feedback book collects (step, rank) feedback; complete steps are folded into the mixer
 *   in step order, and the weights a fold produces are pinned to step s + feedback_lag
 *   (`schedule`), so the batches are a pure function of the recorded feedback;
 * - the run log records every weight change, folded aggregate and step digest.
 *
 * Requests are handled concurrently: a `batch` for a built step is answered from the window
 * while the builder is busy. The Loader itself runs in a worker thread (builder.ts): building a
 * step can take tens of ms of CPU, which in this thread would delay every reply behind it.
 */
import path from "node:path";
import * as zmq from "zeromq";
import { sliceRank, type Batch } from "../batch/assemble.js";
import type { LoadedConfig } from "../config/load.js";
import type { ServeConfig } from "../config/schema.js";
import type { LoaderState } from "../loader/loader.js";
import { encodeStateBlob, ResumeMismatchError } from "../loader/state-blob.js";
import { writeFileAtomic } from "../util/atomic-file.js";
import { createMixer } from "../../mixers/registry.js";
import { MixerInputError, type DomainInfo, type Mixer, type MixerState } from "../../mixers/contract.js";
import { encodeHeader, encodeMessage } from "../protocol/codec.js";
import {
  ProtocolError,
  WEIGHTS_TOPIC,
  type BatchReplyHeader,
  type BatchRequest,
  type DomainMap,
  type FeedbackReply,
  type FeedbackRequest,
  type HelloReply,
  type HelloRequest,
  type Request,
  type StatsReply,
  type WeightsMessage,
} from "../protocol/types.js";
import { checkFeedback, parseRequest } from "../protocol/validate.js";
import { openBuilder, unpackState, type BatchBuilder, type BuilderMode, type BuildResult } from "./builder.js";
import { aggregate, FeedbackBook, rankFeedback, type PartialFeedback, type RankFeedback } from "./feedback-book.js";
import { StepWindow } from "./step-window.js";
import { nodeLayout, runIdentity, type NodeLayout } from "./leader-wire.js";
import { NodeLink } from "./node-link.js";
import { mergeServeStates, nodeNotReady, readServeState, restoreBook } from "./node-role.js";
import { RunLog } from "./run-log.js";
import { provenanceReply, type StepProvenance } from "./provenance.js";
import { decidingStep, WeightSchedule, type ScheduleEntry } from "../schedule/weight-schedule.js";
import { applyCurveServer, resolveSecurity, ZapHandler, type Security } from "./exposure.js";

export type { ScheduleEntry };

/** Served-data counters (what `stats` reports): rank shares counted on their first fetch. */
export interface ServedCounters {
  tokens: number;
  padding: number;
  domainTokens: number[];
  rankBatches: number;
}

/**
 * The serve resume blob (inside the MIXLSTAT envelope of loader/state-blob.ts). `loader` and
 * `mixer` have the layout of `batches --save-state` (cli/batches.ts RunState), so either
 * command can read the other's blob; the rest is the service's own.
 */
export interface ServeState {
  format: "mixload-serve-state";
  version: 1;
  run_id: string;
  /** The step this blob resumes at: the loader state is the one before building it. */
  step: number;
  loader: LoaderState;
  mixer: { name: string; state: MixerState };
  schedule: {
    /** Dynamic mixers: the weights for steps < feedback_lag, and the folds pinned to steps ≥ `step`. */
    initial: ScheduleEntry;
    entries: ScheduleEntry[];
    /** Version counter: folds so far (dynamic), or the version of step `step` − 1 (static). */
    version: number;
    /** Static mixers: the weights of step `step` − 1, to detect the next change. */
    prev: ScheduleEntry | null;
  };
  feedback: {
    /** The next step to fold into the mixer. */
    next_fold: number;
    /** Recorded per-rank feedback for the steps still kept (null = rank not reported). */
    steps: { step: number; ranks: (RankFeedback | null)[]; aggregated?: boolean }[];
  };
  served: ServedCounters;
  feedback_lag: number;
  /** A node service's blob (docs/scale-out.md): which node of how many, in which world. Its loader holds that node's lanes. */
  node?: { index: number; count: number; world: number };
}

export interface ServiceOptions {
  /** Resume from a state blob (file path or bytes); node services may take several nodes' blobs (their lanes are merged). */
  resume?: string | Uint8Array | readonly (string | Uint8Array)[];
  /** Run directory; default config `serve.run_dir` (relative to the config), else runs/<run_id>. */
  runDir?: string;
  /** Tokenizer workers (overrides the config). */
  workers?: number;
  /** Where the Loader runs: a worker thread (default) or this thread. Env MIXLOAD_SERVE_BUILDER. */
  builder?: BuilderMode;
  /** Endpoint overrides (tests bind random ports / ipc paths). */
  control?: string;
  weights?: string;
  /** Allow a non-loopback bind without CURVE (`mixload serve --insecure`); warns at start. */
  insecure?: boolean;
  /** A mixer to use instead of the config's (`replay --serve` plays a recorded schedule back). */
  mixer?: (domains: DomainInfo[]) => Mixer;
  /**
   * Run as node `index` of `count` under the leader at `leader` (docs/scale-out.md): build only
   * this node's lanes, serve only its ranks, forward their feedback and take the weights from the leader.
   */
  node?: { index: number; count: number; leader: string };
}

export interface ProgressEvent {
  event: "progress" | "start" | "stop" | "warning";
  step: number;
  built_step: number;
  steps_served: number;
  tokens_served: number;
  tokens_per_s: number;
  weights_version: number;
  weights: DomainMap<number>;
  message?: string;
}

interface BuiltStep {
  readonly step: number;
  readonly batch: Batch;
  readonly entry: ScheduleEntry;
  readonly weightsMap: DomainMap<number>;
  /** Packed (builder.ts packState): decoded only for a `state` request. */
  readonly loaderBefore: Uint8Array;
  readonly rankTokens: Float64Array;
  readonly rankDomainTokens: Float64Array;
  /** Static mixers: the (version, weights) of the previous step, for `state` at this step. */
  readonly prev: ScheduleEntry | null;
  /** Encoded reply per rank, built on first fetch: the same (step, rank) always gets these bytes. */
  readonly replies: (Buffer[] | undefined)[];
  /** Where every segment came from, for `provenance` requests while the step is kept. */
  readonly provenance: StepProvenance;
}

type Frames = Buffer[];

const sameWeights = (a: ArrayLike<number>, b: ArrayLike<number>): boolean => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};

/** How long prefetching waits after a fetch (see schedulePrefetch): a 0.5 MB reply's transfer, about. */
const PREFETCH_DELAY_MS = 3;
/** Replies queued per peer (a client has one request in flight; a re-ask comes on a fresh socket). */
export const ROUTER_SNDHWM = 16;
/** Requests read ahead per peer. */
export const ROUTER_RCVHWM = 64;
/** Weight messages (≈ 30 bytes per domain) queued per subscriber. */
export const PUB_SNDHWM = 1000;

export class MixloadService {
  readonly runId: string;
  readonly runDir: string;
  private readonly controlBind: string;
  private readonly weightsBind: string;
  readonly serve: ServeConfig;
  readonly domains: readonly string[];
  private readonly world: number;
  private readonly batchSize: number;
  private readonly lag: number;
  /** The service's own ZeroMQ context: its ZAP handler (exposure.ts) answers for these sockets only. */
  private readonly context = new zmq.Context();
  /**
   * High-water marks bound what a peer that stops reading can pin: at most ROUTER_SNDHWM replies
   * per peer are queued (more are dropped; the client re-asks on its timeout), at most
   * ROUTER_RCVHWM requests per peer are read ahead, PUB keeps PUB_SNDHWM weight messages per subscriber.
   */
  private readonly router = new zmq.Router({ context: this.context, sendHighWaterMark: ROUTER_SNDHWM, receiveHighWaterMark: ROUTER_RCVHWM });
  private readonly pub = new zmq.Publisher({ context: this.context, sendHighWaterMark: PUB_SNDHWM });
  private zap: ZapHandler | null = null;
  /** not_ready steps already logged → when (a waiting trainer polls; the log says it once per 30 s). */
  private readonly notReadyLogged = new Map<number, number>();
  private readonly log: RunLog;
  private readonly startedAt = Date.now();

  // schedule: dynamic mixers' weights by step (the lag rule lives there); static runs track the last built entry
  private readonly schedule: WeightSchedule;
  private prev: ScheduleEntry | null;

  // window and builder
  private readonly window: StepWindow<BuiltStep>;
  private inFlight: { step: number; loaderBefore: Uint8Array } | null = null;
  private building: Promise<void> | null = null;
  /** Pending `schedulePrefetch` timer. */
  private prefetchTimer: NodeJS.Timeout | null = null;
  private buildError: Error | null = null;
  private exhaustedAt: number | null = null;

  // feedback
  private readonly book: FeedbackBook;
  /** Node services: this node's ranks and lanes, and the line to the leader (null: a single service). */
  readonly layout: NodeLayout | null;
  private readonly link: NodeLink | null = null;
  /** Local rank 0's global rank (node services serve ranks [firstRank, firstRank + local ranks)). */
  private readonly firstRank: number;

  private served: ServedCounters;
  private closing = false;
  private readonly handlers = new Set<Promise<void>>();
  private sendChain: Promise<void> = Promise.resolve();
  /** Sends ZeroMQ refused (a socket closing, a peer's queue full): counted and logged, then the chain goes on. */
  private readonly failedSends = { reply: 0, weights: 0 };
  /** PUB sends, one at a time (see announce). */
  private pubChain: Promise<void> = Promise.resolve();
  private receiving: Promise<void> | null = null;
  private lastProgress = { at: Date.now(), tokens: 0 };
  /** weightsMap's cache (frozen maps: they are shared). */
  private readonly weightMaps = new WeakMap<readonly number[], DomainMap<number>>();

  private constructor(
    private readonly loaded: LoadedConfig,
    private readonly builder: BatchBuilder,
    private readonly mixer: Mixer,
    options: ServiceOptions,
    resume: ServeState | null,
    private readonly onProgress: (e: ProgressEvent) => void,
  ) {
    const { config } = loaded;
    this.serve = config.serve;
    this.domains = builder.info.domains;
    this.world = config.world;
    this.batchSize = config.batch_size;
    this.lag = config.serve.feedback_lag;
    this.runId = config.run_id ?? resume?.run_id ?? `serve-${new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "")}-${process.pid}`;
    const sharedDir = config.serve.run_dir !== undefined ? path.resolve(loaded.baseDir, config.serve.run_dir) : path.join("runs", this.runId);
    // A node service's default run dir is a folder of the leader's (which holds the run's schedule.jsonl).
    this.runDir = path.resolve(options.runDir ?? (options.node ? path.join(sharedDir, `node-${options.node.index}`) : sharedDir));
    this.controlBind = options.control ?? config.serve.control;
    this.weightsBind = options.weights ?? config.serve.weights;
    const start = resume?.step ?? 0;
    this.layout = options.node ? nodeLayout(options.node.index, options.node.count, this.world, lanesOf(config)) : null;
    this.firstRank = this.layout?.ranks.lo ?? 0;
    const localRanks = this.layout === null ? this.world : this.layout.ranks.hi - this.layout.ranks.lo;
    this.window = new StepWindow<BuiltStep>(localRanks, start, config.serve.prefetch, config.serve.keep_steps);
    this.window.nextBuild = builder.step;
    this.book = new FeedbackBook(this.world, this.layout?.ranks, resume?.feedback.next_fold ?? 0);
    this.served = resume
      ? structuredClone(resume.served)
      : { tokens: 0, padding: 0, domainTokens: new Array<number>(this.domains.length).fill(0), rankBatches: 0 };
    this.schedule = new WeightSchedule(mixer, this.lag, resume?.schedule);
    this.prev = resume?.schedule.prev ?? null;
    // Elastic resume (another world, same world × batch_size: the loader checks that): see restoreBook.
    const forward = resume ? restoreBook(this.book, resume, this.layout) : new Map<number, PartialFeedback>();
    // A node also re-forwards the steps its ranks completed that the leader may not have folded
    // (it was killed between a rank's feedback and its report); the leader ignores folded ones.
    if (this.layout !== null)
      for (const step of this.book.stepsInOrder()) if (step >= this.book.nextFold && this.book.isComplete(step)) forward.set(step, this.book.partial(step));
    this.log = new RunLog(this.runDir, (m) => this.warn(m));
    if (options.node && this.layout) {
      this.link = new NodeLink(this.context, this.layout, options.node.leader, runIdentity(config), {
        entry: (e) => this.adopt(e),
        status: (st) => this.leaderFolded(st.next_fold),
        fromStep: () => this.window.nextBuild,
        warn: (m) => this.warn(m),
      });
      this.pendingForward = forward;
    }
  }

  /** Steps a resumed node forwards to the leader once the link is up (elastic resume). */
  private pendingForward = new Map<number, PartialFeedback>();

  /** A StepWindow's built steps (other modules' code reads `built.get`). */
  private get built(): StepWindow<BuiltStep> {
    return this.window;
  }

  private get nextBuild(): number {
    return this.window.nextBuild;
  }

  private get nextFold(): number {
    return this.book.nextFold;
  }

  /** Open the loader and mixer (restoring `resume`), bind both sockets, start prefetching. */
  static async open(loaded: LoadedConfig, options: ServiceOptions = {}, onProgress: (e: ProgressEvent) => void = () => {}): Promise<MixloadService> {
    let resume: ServeState | null = null;
    if (options.resume !== undefined) {
      const sources = Array.isArray(options.resume) ? (options.resume as (string | Uint8Array)[]) : [options.resume as string | Uint8Array];
      const names = sources.map((x, i) => (typeof x === "string" ? x : `resume blob ${i + 1}`));
      const states = sources.map(readServeState);
      if (options.node === undefined && states.some((st) => st.node !== undefined))
        throw new ResumeMismatchError(
          `${names[states.findIndex((st) => st.node !== undefined)]} is a node service's state: resume it with \`serve --node I --nodes N --leader ENDPOINT\` (the mixer lives in the leader's state)`,
        );
      resume = mergeServeStates(states, names);
    }
    // Exposure first: a refused bind should not wait for the data to load.
    const binds = { control: options.control ?? loaded.config.serve.control, weights: options.weights ?? loaded.config.serve.weights };
    const security = resolveSecurity(loaded.config.serve, loaded.baseDir, binds, options.insecure === true);
    const mode = options.builder ?? (process.env.MIXLOAD_SERVE_BUILDER === "inline" ? "inline" : "worker");
    const layout = options.node ? nodeLayout(options.node.index, options.node.count, loaded.config.world, lanesOf(loaded.config)) : null;
    const builder = await openBuilder(loaded, { mode, workers: options.workers, lanes: layout?.lanes });
    let service: MixloadService | undefined;
    try {
      const mixer = options.mixer?.(builder.info.domainInfo) ?? createMixer(loaded.config.mixer, builder.info.domainInfo);
      if (resume) {
        if (resume.mixer.name !== mixer.name)
          throw new ResumeMismatchError(`the resume blob was saved with mixer ${resume.mixer.name}, the config has ${mixer.name}`);
        if (resume.feedback_lag !== loaded.config.serve.feedback_lag) {
          throw new ResumeMismatchError(
            `the resume blob was saved with serve.feedback_lag ${resume.feedback_lag}, the config has ${loaded.config.serve.feedback_lag}`,
          );
        }
        await builder.restore(resume.loader);
        mixer.restore(resume.mixer.state);
      }
      service = new MixloadService(loaded, builder, mixer, options, resume, onProgress);
      service.log.writeConfig(loaded.config, { base_dir: loaded.baseDir, ...(loaded.file !== undefined ? { config_file: loaded.file } : {}) });
      await service.secure(security);
      await service.router.bind(service.controlBind);
      service.pub.linger = 0;
      await service.pub.bind(service.weightsBind);
    } catch (e) {
      if (service) {
        service.router.close();
        service.pub.close();
        service.log.close();
      }
      await builder.close();
      throw e;
    }
    service.announceStart(resume !== null);
    service.startLink();
    service.receiving = service.receiveLoop();
    service.pump();
    service.emit("start");
    for (const w of security.warnings) service.warn(w);
    return service;
  }

  /** The bound control endpoint (a `tcp://host:*` bind resolves to the port chosen). */
  get controlEndpoint(): string {
    return this.router.lastEndpoint ?? this.controlBind;
  }

  get weightsEndpoint(): string {
    return this.pub.lastEndpoint ?? this.weightsBind;
  }

  /** Cap request size (ZMQ_MAXMSGSIZE) and turn on CURVE (+ ZAP allow-list) on both sockets. Before bind. */
  private async secure(security: Security): Promise<void> {
    this.router.maxMessageSize = this.serve.max_message_bytes;
    const curve = security.curve;
    if (curve === undefined) return;
    applyCurveServer(this.router, curve);
    applyCurveServer(this.pub, curve);
    if (curve.clients !== undefined) {
      this.zap = await ZapHandler.start(this.context, curve.clients, (key, address) =>
        this.warn(`refused a CURVE client from ${address}: key ${key} is not in serve.curve.client_keys_file`),
      );
    }
  }

  // ---- schedule ----------------------------------------------------------------------

  private get dynamic(): boolean {
    return this.mixer.needsFeedback;
  }

  /** A node: start the line to the leader, and forward what an elastic resume handed over. */
  private startLink(): void {
    if (this.link === null) return;
    this.link.start();
    for (const [step, partial] of this.pendingForward) this.link.report(step, partial);
    this.pendingForward.clear();
  }

  /** A node: weights the leader folded, in force from exactly their effective step (the schedule holds them by step). */
  private adopt(e: ScheduleEntry): void {
    if (e.step < this.nextBuild) return; // built already: a catch-up re-announcement
    let fresh: boolean;
    try {
      fresh = this.schedule.adopt(e);
    } catch (err) {
      this.warn((err as Error).message);
      return;
    }
    if (!fresh) return;
    this.announce(e);
    this.pump();
  }

  /** A node: the leader folded every step below `nextFold`; their records may leave with the window. */
  private leaderFolded(nextFold: number): void {
    if (nextFold > this.book.nextFold) this.book.nextFold = nextFold;
    this.evict();
  }

  /** Publish and log the weights in force at the start (fresh or resumed). */
  private announceStart(resumed: boolean): void {
    if (this.dynamic) {
      const step = this.nextBuild;
      const e = this.schedule.at(step);
      if (e !== undefined) this.announce(e);
      else if (!resumed) this.announce(this.schedule.initial);
    } else if (this.prev !== null) {
      this.announce(this.prev); // a fresh static run announces step 0 when it builds it
    }
  }

  /**
   * The entry of a static mixer's step. Unchanged weights keep the previous entry's array, so
   * a static run allocates nothing per step here and `weightsMap` is a cache hit (see there).
   */
  private staticEntry(step: number): ScheduleEntry {
    const w = this.mixer.weights(step);
    const prev = this.prev;
    if (prev !== null && sameWeights(prev.weights, w)) return { step, version: prev.version, weights: prev.weights };
    return { step, version: prev === null ? 0 : prev.version + 1, weights: Array.from(w) };
  }

  /**
   * The weights as a name → weight map, built once per weights array (entries of one version
   * share it). A 64-domain map is a ~6 KB dictionary object; built per step, it and its copies
   * in the run log were most of what the main thread allocated per step, and the reply p99
   * followed the mark-compacts they caused (serve.latency bench).
   */
  private weightsMap(w: readonly number[]): DomainMap<number> {
    let out = this.weightMaps.get(w);
    if (out === undefined) {
      out = {};
      for (let i = 0; i < this.domains.length; i++) out[this.domains[i]] = w[i];
      Object.freeze(out); // shared by replies, PUB messages and the run log's JSON cache
      this.weightMaps.set(w, out);
    }
    return out;
  }

  private announce(e: ScheduleEntry): void {
    const msg: WeightsMessage = { v: 1, version: e.version, effective_step: e.step, weights: this.weightsMap(e.weights), mixer: this.mixer.name };
    this.log.append({ v: 1, type: "weights", version: msg.version, effective_step: msg.effective_step, weights: msg.weights, mixer: msg.mixer });
    // zeromq allows one send in flight per socket: PUB sends are chained like the ROUTER's,
    // so a burst of weight changes (several folds at once under load) never throws "busy".
    const frames = [WEIGHTS_TOPIC, encodeHeader(msg)];
    this.pubChain = this.pubChain.then(() => this.pub.send(frames)).catch((e: unknown) => this.sendFailed("weights", e));
  }

  /** The weights for step s if they are determined (dynamic: the fold of s − lag is done). */
  private dynamicEntry(step: number): ScheduleEntry | undefined {
    return this.schedule.at(step);
  }

  // ---- builder -----------------------------------------------------------------------

  private oldestKept(): number {
    return this.window.oldestKept();
  }

  /**
   * Prefetch after a fetch moved the window, a moment later. The reply is still in flight:
   * ZeroMQ's I/O thread is writing ~0.5 MB and the trainer is reading it. A build started now
   * (a CPU burst in the builder thread) competes with that transfer for the cores; on the
   * 2-core bench machine it put the reply p99 at 5× raw ZeroMQ's. Steps asked for but not built
   * never wait on this: `stepFor` pumps at once. Progress output rides along.
   */
  private schedulePrefetch(): void {
    if (this.prefetchTimer !== null || this.closing) return;
    this.prefetchTimer = setTimeout(() => {
      this.prefetchTimer = null;
      this.pump();
      this.maybeProgress();
    }, PREFETCH_DELAY_MS);
  }

  private pump(): void {
    if (this.building !== null || this.closing || this.buildError !== null || this.exhaustedAt !== null) return;
    if (this.nextBuild >= this.window.buildTarget()) return;
    this.building = this.buildLoop().finally(() => {
      this.building = null;
    });
  }

  private async buildLoop(): Promise<void> {
    while (!this.closing && this.nextBuild < this.window.buildTarget()) {
      const step = this.nextBuild; // == loader.step: the loader builds in order
      let entry: ScheduleEntry;
      let prev: ScheduleEntry | null = null;
      if (this.dynamic) {
        const e = this.dynamicEntry(step);
        if (e === undefined) return; // waits for feedback of step − lag; a fold calls pump()
        entry = e;
      } else {
        prev = this.prev;
        entry = this.staticEntry(step);
      }
      const loaderBefore = this.builder.state;
      this.inFlight = { step, loaderBefore };
      let built: BuildResult | null;
      try {
        built = await this.builder.build(entry.weights);
      } catch (e) {
        this.buildError = e as Error;
        this.inFlight = null;
        this.warn(`building step ${step} failed: ${(e as Error).message}`);
        this.rejectWaiters(() => new ProtocolError("internal", `building step ${step} failed: ${(e as Error).message}`));
        return;
      }
      this.inFlight = null;
      if (built === null) {
        this.exhaustedAt = step;
        this.warn(`data exhausted at step ${step}`);
        this.rejectWaiters((s) => new ProtocolError("step_out_of_range", `step ${s}: the data ran out at step ${step} (on_exhausted: drop)`, "step"));
        return;
      }
      if (!this.dynamic && (this.prev === null || this.prev.version !== entry.version)) this.announce(entry);
      if (!this.dynamic) this.prev = entry;
      const weightsMap = this.weightsMap(entry.weights);
      const { batch, rankTokens, rankDomainTokens } = built;
      const { provenance } = built;
      const b: BuiltStep = {
        step,
        batch,
        entry,
        weightsMap,
        loaderBefore,
        rankTokens,
        rankDomainTokens,
        prev,
        replies: new Array(rankTokens.length),
        provenance,
      };
      this.log.append({ v: 1, type: "batch", step, version: entry.version, weights: weightsMap, digest: built.digest });
      this.window.file(step, b);
      this.evict();
    }
  }

  private rejectWaiters(error: (step: number) => unknown): void {
    this.window.rejectAll(error);
  }

  private evict(): void {
    const oldest = this.window.evict();
    this.book.evict(oldest);
    // Static mixers never wait for feedback, so a step that left the window incomplete is skipped
    // (a node service leaves that to the leader's frontier).
    if (!this.dynamic && this.link === null) {
      while (this.nextFold < oldest && !this.book.isComplete(this.nextFold)) {
        this.book.delete(this.nextFold);
        this.book.nextFold += 1;
      }
      this.foldReady(-1);
    }
  }

  // ---- sockets -----------------------------------------------------------------------

  private async receiveLoop(): Promise<void> {
    for (;;) {
      let msg: Buffer[];
      try {
        msg = await this.router.receive();
      } catch {
        return; // socket closed
      }
      const id = msg[0];
      // REQ and DEALER peers put an empty delimiter before frame 0 (PROTOCOL.md); a DEALER that does not is answered the same way.
      const delimited = msg.length >= 2 && msg[1].length === 0;
      const body = msg.slice(delimited ? 2 : 1);
      const envelope = delimited ? [id, Buffer.alloc(0)] : [id];
      const h = this.respond(body).then(
        (reply) => this.send([...envelope, ...reply]),
        (e) => this.send([...envelope, ...errorFrames(e)]),
      );
      this.handlers.add(h);
      void h.finally(() => this.handlers.delete(h));
    }
  }

  private send(frames: Buffer[]): Promise<void> {
    this.sendChain = this.sendChain.then(() => this.router.send(frames)).catch((e: unknown) => this.sendFailed("reply", e));
    return this.sendChain;
  }

  private async respond(body: Buffer[]): Promise<Frames> {
    try {
      const req = parseRequest(body);
      return await this.dispatch(req);
    } catch (e) {
      return errorFrames(e);
    }
  }

  private dispatch(req: Request): Frames | Promise<Frames> {
    switch (req.op) {
      case "hello":
        return this.hello(req);
      case "batch":
        return this.batch(req);
      case "feedback":
        return this.feedback(req);
      case "state":
        return this.stateReply(req.step);
      case "stats":
        return [encodeHeader(this.stats())];
      case "provenance":
        this.checkRank(req.rank);
        return provenanceReply(req, this.built.get(req.step)?.provenance, {
          rowsPerRank: this.batchSize,
          firstRank: this.firstRank,
          oldest: this.oldestKept(),
          next: this.nextBuild,
        });
    }
  }

  // ---- ops ---------------------------------------------------------------------------

  private checkRank(rank: number): void {
    if (rank >= this.world) throw new ProtocolError("bad_request", `rank: ${rank} is outside [0, ${this.world}) (world ${this.world})`, "rank");
    const l = this.layout;
    if (l !== null && (rank < l.ranks.lo || rank >= l.ranks.hi)) {
      const per = l.ranks.hi - l.ranks.lo;
      throw new ProtocolError(
        "bad_request",
        `rank: ${rank} is served by node ${Math.floor(rank / per)}; this is node ${l.index} of ${l.count}, serving ranks ${l.ranks.lo}..${l.ranks.hi - 1}`,
        "rank",
      );
    }
  }

  private frontier(): number {
    return this.window.frontier();
  }

  private currentEntry(): ScheduleEntry {
    const last = this.built.get(this.nextBuild - 1);
    if (last) return last.entry;
    if (this.dynamic) return this.dynamicEntry(this.nextBuild) ?? this.schedule.initial;
    return this.prev ?? this.schedule.initial;
  }

  private hello(req: HelloRequest): Frames {
    if (req.world !== this.world) throw new ProtocolError("bad_request", `world: the service is configured for world ${this.world}, got ${req.world}`, "world");
    this.checkRank(req.rank);
    const next = this.frontier();
    const e = this.built.get(next)?.entry ?? (this.dynamic ? this.dynamicEntry(next) : undefined) ?? this.currentEntry();
    const tk = this.builder.info;
    const reply: HelloReply = {
      v: 1,
      ok: true,
      run_id: this.runId,
      domains: [...this.domains],
      seq_len: tk.seqLen,
      batch_size: this.batchSize,
      world: this.world,
      next_step: next,
      vocab_size: tk.vocabSize,
      eos_id: tk.eosId,
      pad_id: tk.padId,
      weights: this.weightsMap(e.weights),
      feedback_lag: this.lag,
      mixer: this.mixer.name,
      needs_feedback: this.dynamic,
      prefetch: this.serve.prefetch,
      keep_steps: this.serve.keep_steps,
      weights_version: e.version,
    };
    return [encodeHeader(reply)];
  }

  private async batch(req: BatchRequest): Promise<Frames> {
    this.checkRank(req.rank);
    const b = await this.stepFor(req.step);
    return this.rankReply(b, req.rank);
  }

  /** The built step `s`, waiting for the builder when s is next in line. */
  private stepFor(s: number): BuiltStep | Promise<BuiltStep> {
    const hit = this.built.get(s);
    if (hit) return hit;
    if (s < this.nextBuild || s < this.oldestKept()) {
      throw new ProtocolError("step_out_of_range", `step ${s} has left the window (kept: ${this.oldestKept()}..${this.nextBuild - 1})`, "step");
    }
    if (this.buildError) throw new ProtocolError("internal", `the loader failed: ${this.buildError.message}`);
    if (this.exhaustedAt !== null) throw new ProtocolError("step_out_of_range", `step ${s}: the data ran out at step ${this.exhaustedAt}`, "step");
    const limit = this.window.askLimit();
    if (s >= limit) {
      throw new ProtocolError(
        "step_out_of_range",
        `step ${s} is too far ahead: steps up to ${limit - 1} can be asked now (highest fetched + prefetch ${this.serve.prefetch} + 1)`,
        "step",
      );
    }
    if (this.dynamic) {
      for (let t = this.nextBuild; t <= s; t++) {
        if (this.dynamicEntry(t) === undefined) {
          throw this.notReady(s, t);
        }
      }
    }
    const waiting = this.window.wait(s);
    this.pump();
    return waiting;
  }

  /**
   * `not_ready` for step s, whose weights (step t) wait for a fold: name the step being waited
   * on (folds go in step order, so it is the next unfolded one) and the ranks it still lacks.
   * Logged once per waiting step, again every 30 s while it stays stuck.
   */
  private notReady(s: number, t: number): ProtocolError {
    if (this.link !== null) {
      // A node: its own ranks' feedback for the deciding step first, then whom the leader waits for.
      const deciding = decidingStep(t, this.lag);
      const message = nodeNotReady(s, t, deciding, this.book.missing(deciding), this.link.status, this.link.lastHeard, this.link.leader, this.lag);
      return this.notReadyLog(message, deciding);
    }
    const waiting = this.nextFold;
    const missing = this.book.missing(waiting);
    const ranks = missing.length > 16 ? `${missing.slice(0, 16).join(", ")}, … (${missing.length} ranks)` : missing.join(", ");
    const message =
      missing.length === 0
        ? `step ${s} is not ready: the weights of step ${t} wait for the fold of step ${waiting}, whose feedback is complete but was not folded; re-send it`
        : `step ${s} is not ready: the weights of step ${t} wait for the feedback of step ${waiting} from rank${missing.length > 1 ? "s" : ""} ${ranks} (feedback_lag ${this.lag}); retry later`;
    return this.notReadyLog(message, waiting);
  }

  /** Logged once per waiting step, again every 30 s while it stays stuck. */
  private notReadyLog(message: string, waiting: number): ProtocolError {
    const now = Date.now();
    const last = this.notReadyLogged.get(waiting);
    if (last === undefined || now - last >= 30_000) {
      this.notReadyLogged.set(waiting, now);
      for (const k of this.notReadyLogged.keys()) if (k < waiting) this.notReadyLogged.delete(k);
      this.warn(message);
    }
    return new ProtocolError("not_ready", message, "step");
  }

  private rankReply(b: BuiltStep, rank: number): Frames {
    const local = rank - this.firstRank; // a node's batch holds only its ranks' rows
    let frames = b.replies[local];
    if (frames === undefined) {
      const B = this.batchSize;
      const L = b.batch.seqLen;
      const r = sliceRank(b.batch, local, B);
      const tokens = b.rankTokens[local]; // counted by the builder, off this thread
      const header: Omit<BatchReplyHeader, "arrays"> = {
        v: 1,
        ok: true,
        step: b.step,
        rank,
        weights_version: b.entry.version,
        weights: b.weightsMap,
        max_seqlen: r.max_seqlen,
        tokens,
      };
      frames = encodeMessage(header, [
        { name: "input_ids", array: r.input_ids, shape: [B, L] },
        { name: "targets", array: r.targets, shape: [B, L] },
        { name: "position_ids", array: r.position_ids, shape: [B, L] },
        { name: "domain_ids", array: r.domain_ids, shape: [B, L] },
        { name: "cu_seqlens", array: r.cu_seqlens, shape: [r.cu_seqlens.length] },
      ]);
      b.replies[local] = frames;
      // First fetch of this rank's share: count it as served.
      this.served.tokens += tokens;
      this.served.padding += B * L - tokens;
      this.served.rankBatches += 1;
      const k = this.domains.length;
      for (let i = 0; i < k; i++) this.served.domainTokens[i] += b.rankDomainTokens[local * k + i];
    }
    if (this.window.fetched(local, b.step)) {
      this.evict();
      this.schedulePrefetch();
    }
    return frames;
  }

  private feedback(req: FeedbackRequest): Frames {
    this.checkRank(req.rank);
    const signals = checkFeedback(req, this.domains);
    const s = req.step;
    if (s >= this.nextBuild)
      throw new ProtocolError("step_out_of_range", `feedback for step ${s}, which has not been built yet (next to build: ${this.nextBuild})`, "step");
    const fb = rankFeedback(signals, this.domains, req.lr);
    const allRanks = req.all_ranks === true;
    const added = this.book.record(s, req.rank, fb, allRanks, () => {
      if (s < this.nextFold || s < this.oldestKept())
        throw new ProtocolError("step_out_of_range", `feedback for step ${s}, which has left the window (oldest kept: ${this.oldestKept()})`, "step");
    });
    if (added && this.book.isComplete(s)) {
      if (this.link !== null) {
        // A node: its ranks' exact sum goes to the leader, which folds once every node has sent the step.
        this.link.report(s, this.book.partial(s));
      } else {
        try {
          this.foldReady(s);
        } catch (e) {
          this.book.unrecord(s, req.rank, allRanks);
          if (e instanceof MixerInputError)
            throw new ProtocolError("invalid_feedback", `the mixer rejected step ${s}: ${e.message}`, `domains.${e.domain}.${e.field}`);
          throw e;
        }
      }
    }
    return [encodeHeader({ v: 1, ok: true, step: s, complete: this.book.isComplete(s) } satisfies FeedbackReply)];
  }

  /**
   * Fold complete steps into the mixer in step order. An error folding `current` (the step the
   * caller just completed) propagates with the mixer untouched; an error on a later, deferred
   * step drops that step's feedback (its ranks must re-send) and is reported as a warning.
   */
  private foldReady(current: number): void {
    for (;;) {
      const step = this.nextFold;
      const record = this.book.get(step);
      if (record === undefined || !this.book.isComplete(step)) return;
      const agg = aggregate(step, record, this.domains);
      let entry: ScheduleEntry | null;
      try {
        entry = this.schedule.fold(agg.feedback);
      } catch (e) {
        if (step === current) throw e;
        this.book.delete(step);
        this.warn(`feedback of step ${step} dropped: ${(e as Error).message}`);
        return;
      }
      this.book.nextFold = step + 1;
      this.log.append(
        agg.lr === undefined ? { v: 1, type: "feedback", step, domains: agg.logged } : { v: 1, type: "feedback", step, domains: agg.logged, lr: agg.lr },
      );
      if (entry !== null) {
        this.announce(entry);
        this.schedule.forget(this.oldestKept());
        this.pump();
      }
    }
  }

  private byName(values: ArrayLike<number>): DomainMap<number> {
    const out: DomainMap<number> = {};
    for (let i = 0; i < this.domains.length; i++) out[this.domains[i]] = values[i];
    return out;
  }

  private stats(): StatsReply {
    const ls = this.builder.stats;
    const c = this.served;
    const e = this.currentEntry();
    const achieved: DomainMap<number> = {};
    this.domains.forEach((name, i) => (achieved[name] = c.tokens === 0 ? 0 : c.domainTokens[i] / c.tokens));
    return {
      v: 1,
      ok: true,
      step: this.frontier(),
      weights: this.weightsMap(e.weights),
      achieved,
      tokens_served: c.tokens,
      fill_rate: c.tokens + c.padding === 0 ? 0 : c.tokens / (c.tokens + c.padding),
      documents: this.byName(ls.documents),
      epochs: this.byName(ls.epochs),
      built_step: this.nextBuild,
      weights_version: e.version,
      folded_step: this.nextFold - 1,
      mixer: this.mixer.describe(),
      steps_served: this.frontier(),
      rank_batches_served: c.rankBatches,
      uptime_s: (Date.now() - this.startedAt) / 1000,
      ...(this.builder.info.selection === undefined ? {} : { selection: this.builder.info.selection }),
    };
  }

  // ---- state -------------------------------------------------------------------------

  /** The resume blob for step `step` (default: the lowest step not every rank has fetched). */
  async stateBlob(step?: number): Promise<{ step: number; blob: Uint8Array }> {
    const r = step ?? Math.max(this.frontier(), this.oldestKept());
    const state = this.stateAt(r);
    return { step: r, blob: encodeStateBlob(state) };
  }

  private async stateReply(step: number | undefined): Promise<Frames> {
    const { step: r, blob } = await this.stateBlob(step);
    return encodeMessage({ v: 1, ok: true, step: r }, [{ name: "state", array: blob, shape: [blob.length] }]);
  }

  private stateAt(r: number): ServeState {
    let packed: Uint8Array | undefined;
    let prev: ScheduleEntry | null = this.prev;
    const b = this.built.get(r);
    if (b) {
      packed = b.loaderBefore;
      prev = b.prev;
    } else if (this.inFlight !== null && this.inFlight.step === r) {
      packed = this.inFlight.loaderBefore;
    } else if (r === this.nextBuild && this.inFlight === null) {
      packed = this.builder.state;
    }
    if (packed === undefined) {
      throw new ProtocolError("step_out_of_range", `state: step ${r} is not in the window (kept: ${this.oldestKept()}..${this.nextBuild})`, "step");
    }
    const { steps } = this.book.snapshot();
    return {
      format: "mixload-serve-state",
      version: 1,
      run_id: this.runId,
      step: r,
      loader: unpackState(packed),
      mixer: { name: this.mixer.name, state: this.mixer.state() },
      schedule: { ...this.schedule.snapshot(r), version: this.dynamic ? this.schedule.version : (prev?.version ?? 0), prev: this.dynamic ? null : prev },
      feedback: { next_fold: this.nextFold, steps },
      served: structuredClone(this.served),
      feedback_lag: this.lag,
      ...(this.layout !== null ? { node: { index: this.layout.index, count: this.layout.count, world: this.world } } : {}),
    };
  }

  // ---- progress ----------------------------------------------------------------------

  private emit(event: ProgressEvent["event"], message?: string): void {
    const now = Date.now();
    const dt = (now - this.lastProgress.at) / 1000;
    const rate = dt > 0 ? (this.served.tokens - this.lastProgress.tokens) / dt : 0;
    this.lastProgress = { at: now, tokens: this.served.tokens };
    const e = this.currentEntry();
    const ev: ProgressEvent = {
      event,
      step: this.frontier(),
      built_step: this.nextBuild,
      steps_served: this.frontier(),
      tokens_served: this.served.tokens,
      tokens_per_s: Math.round(rate),
      weights_version: e.version,
      weights: this.weightsMap(e.weights),
    };
    if (message !== undefined) ev.message = message;
    this.onProgress(ev);
  }

  private maybeProgress(): void {
    if (Date.now() - this.lastProgress.at >= 1000) this.emit("progress");
  }

  private warn(message: string): void {
    this.emit("warning", message);
  }

  /** A failed send must not break the chain (later sends wait on it), nor pass unseen: count it, log the 1st, 10th, 100th, ... */
  private sendFailed(kind: "reply" | "weights", e: unknown): void {
    const n = ++this.failedSends[kind];
    if (/^10*$/.test(String(n))) this.warn(`a ${kind} send failed (${n} so far): ${e instanceof Error ? e.message : String(e)}`);
  }

  // ---- shutdown ----------------------------------------------------------------------

  /**
   * Finish the replies in flight, write the final state blob (`state.bin` in the run dir) and
   * the log, close everything. Returns the state file path (null if no state could be taken).
   */
  async close(options: { writeState?: boolean; graceMs?: number } = {}): Promise<string | null> {
    if (this.closing) return null;
    this.closing = true;
    if (this.prefetchTimer !== null) clearTimeout(this.prefetchTimer);
    const grace = options.graceMs ?? 5000;
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, grace).unref());
    await Promise.race([Promise.allSettled([...this.handlers]), deadline]);
    await this.sendChain;
    if (this.building) await Promise.race([this.building, deadline]);
    this.rejectWaiters(() => new ProtocolError("internal", "the service is shutting down"));
    await this.sendChain;
    let file: string | null = null;
    if (options.writeState !== false) {
      try {
        const { step, blob } = await this.stateBlob();
        const target = path.join(this.runDir, "state.bin");
        writeFileAtomic(target, blob);
        file = target; // only once it is on disk: a caller must never be told of a file that is not there
        this.emit("stop", `state for step ${step} written to ${file}`);
      } catch (e) {
        this.warn(
          `could not write the final state: ${(e as Error).message} (the previous state.bin, if any, is unchanged; resume from the trainer's last \`state\` blob)`,
        );
      }
    }
    await Promise.race([this.pubChain, deadline]);
    await this.link?.close();
    this.router.linger = 1000;
    this.router.close();
    this.pub.close();
    await this.receiving;
    await this.zap?.close();
    this.log.close();
    await this.builder.close();
    return file;
  }
}

function errorFrames(e: unknown): Frames {
  if (e instanceof ProtocolError) return [encodeHeader(e.reply())];
  const message = e instanceof Error ? e.message : String(e);
  return [encodeHeader(new ProtocolError("internal", message).reply())];
}

/** The run's lane count (config `lanes`, default 1). */
function lanesOf(config: LoadedConfig["config"]): number {
  return (config as { lanes?: number }).lanes ?? 1;
}
