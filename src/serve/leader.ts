/**
 * `mixload leader`: the one mixer of a run served by node services (docs/scale-out.md).
 *
 * Each node service sends, per step, its ranks' feedback summed exactly (a PartialFeedback);
 * the leader folds a step once every node has reported it (LeaderBook), logs the aggregate and
 * the new weights to its run dir's schedule.jsonl exactly as one service would, publishes the
 * weights with their effective step, and writes its state blob (mixer + schedule + fold
 * frontier) before anyone hears of the fold, so a leader killed at any moment restarts from
 * `--resume leader-state.bin` and folds the same way: nodes re-send what it lost.
 */
import path from "node:path";
import * as zmq from "zeromq";
import type { LoadedConfig } from "../config/load.js";
import { encodeStateBlob, readStateFile, ResumeMismatchError, StateBlobError } from "../loader/state-blob.js";
import { writeFileAtomic } from "../util/atomic-file.js";
import { createMixer } from "../../mixers/registry.js";
import type { DomainInfo, Mixer, MixerState } from "../../mixers/contract.js";
import { decodeHeader, encodeHeader } from "../protocol/codec.js";
import type { DomainMap } from "../protocol/types.js";
import type { ScheduleEntry, ScheduleSnapshot } from "../schedule/weight-schedule.js";
import { LeaderBook, ReportConflictError, type Fold } from "./leader-book.js";
import {
  runIdentity,
  SCHEDULE_TOPIC,
  STATUS_TOPIC,
  type FoldStatus,
  type LeaderReply,
  type LeaderRequest,
  type ReportRequest,
  type ScheduleMessage,
  type SyncRequest,
} from "./leader-wire.js";
import { checkExposure } from "./exposure.js";
import { RunLog } from "./run-log.js";

export interface LeaderState {
  format: "mixload-leader-state";
  version: 1;
  run_id: string;
  run: string;
  mixer: { name: string; state: MixerState };
  schedule: ScheduleSnapshot;
  next_fold: number;
  feedback_lag: number;
}

export interface LeaderOptions {
  nodes: number;
  /** ROUTER for node sync/reports, PUB for weights. */
  control: string;
  weights: string;
  runDir?: string;
  resume?: string;
  /** Write the state blob after every fold (default true; the bench measures both). */
  persist?: boolean;
  /** The domains' info for the mixer (default: opened from the config's sources, as a service does). */
  domainInfo?: DomainInfo[];
  /** Allow non-loopback binds (the leader link has no CURVE yet: use a private network or a tunnel); warns. */
  insecure?: boolean;
}

export interface LeaderEvent {
  event: "fold" | "warning" | "start" | "stop";
  step?: number;
  version?: number;
  message?: string;
}

/** Schedule entries kept in memory for nodes that catch up (a restarted node asks from its blob's step). */
const KEEP_ENTRIES = 4096;
/**
 * Entries the state blob keeps: the blob is rewritten after every fold, so its size is paid every
 * step (with 4096 entries of 15 weights it was most of the leader's CPU per fold). A node restarted
 * from a blob more than this many steps old, while the leader itself was restarted, cannot catch up.
 */
const BLOB_ENTRIES = 256;

export class MixerLeader {
  private readonly context = new zmq.Context();
  private readonly router = new zmq.Router({ context: this.context, sendHighWaterMark: 10_000, receiveHighWaterMark: 10_000 });
  private readonly pub = new zmq.Publisher({ context: this.context, sendHighWaterMark: 10_000 });
  private readonly book: LeaderBook;
  private readonly log: RunLog;
  readonly runDir: string;
  readonly runId: string;
  readonly leaderId = `${process.pid}-${Date.now().toString(36)}`;
  private readonly run: string;
  private sendChain: Promise<void> = Promise.resolve();
  private pubChain: Promise<void> = Promise.resolve();
  private receiving: Promise<void> | null = null;
  private closed = false;
  private readonly domains: readonly string[];
  private readonly weightMaps = new WeakMap<readonly number[], DomainMap<number>>();
  /** Bytes received in reports (bench: bytes per step at the leader). */
  readonly traffic = { reports: 0, reportBytes: 0, syncs: 0, replyBytes: 0, published: 0 };

  private constructor(
    private readonly loaded: LoadedConfig,
    private readonly mixer: Mixer,
    private readonly options: LeaderOptions,
    resume: LeaderState | null,
    private readonly onEvent: (e: LeaderEvent) => void,
  ) {
    const { config } = loaded;
    this.domains = config.domains.map((d) => d.name);
    this.run = runIdentity(config);
    this.runId = config.run_id ?? resume?.run_id ?? `leader-${new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "")}-${process.pid}`;
    this.runDir = path.resolve(
      options.runDir ?? (config.serve.run_dir !== undefined ? path.resolve(loaded.baseDir, config.serve.run_dir) : path.join("runs", this.runId)),
    );
    this.book = new LeaderBook(options.nodes, this.domains, mixer, config.serve.feedback_lag, resume ?? undefined);
    this.log = new RunLog(this.runDir, (m) => this.onEvent({ event: "warning", message: m }));
  }

  static async open(loaded: LoadedConfig, options: LeaderOptions, onEvent: (e: LeaderEvent) => void = () => {}): Promise<MixerLeader> {
    // The leader's sockets steer every node's mixture: loopback unless told otherwise (no CURVE on this link yet).
    const warnings = checkExposure({ control: options.control, weights: options.weights, curve: false, insecure: options.insecure === true });
    let resume: LeaderState | null = null;
    if (options.resume !== undefined) resume = checkLeaderState(readStateFile(options.resume), options.resume);
    const info = options.domainInfo ?? (await openDomainInfo(loaded));
    const mixer = createMixer(loaded.config.mixer, info);
    if (resume) {
      if (resume.run !== runIdentity(loaded.config))
        throw new ResumeMismatchError(`${options.resume}: the leader state is of another run (config, lanes, mixer or feedback_lag differ)`);
      if (resume.mixer.name !== mixer.name)
        throw new ResumeMismatchError(`the leader state was saved with mixer ${resume.mixer.name}, the config has ${mixer.name}`);
      mixer.restore(resume.mixer.state);
    }
    const leader = new MixerLeader(loaded, mixer, options, resume, onEvent);
    try {
      leader.log.writeConfig(loaded.config, { base_dir: loaded.baseDir, ...(loaded.file !== undefined ? { config_file: loaded.file } : {}) });
      leader.pub.linger = 0;
      await leader.router.bind(options.control);
      await leader.pub.bind(options.weights);
    } catch (e) {
      leader.router.close();
      leader.pub.close();
      leader.log.close();
      throw e;
    }
    // A fresh run logs the weights in force at step 0, as one service does (a resumed one logged them already).
    if (resume === null && mixer.needsFeedback) leader.logWeights(leader.book.schedule.initial);
    leader.receiving = leader.receiveLoop();
    onEvent({ event: "start", step: leader.book.nextFold });
    for (const w of warnings) onEvent({ event: "warning", message: `${w} (leader link)` });
    return leader;
  }

  get controlEndpoint(): string {
    return this.router.lastEndpoint ?? this.options.control;
  }

  get weightsEndpoint(): string {
    return this.pub.lastEndpoint ?? this.options.weights;
  }

  get nextFold(): number {
    return this.book.nextFold;
  }

  get version(): number {
    return this.book.schedule.version;
  }

  status(): FoldStatus {
    return { next_fold: this.book.nextFold, waiting: this.book.waitingFor(this.book.nextFold) };
  }

  private async receiveLoop(): Promise<void> {
    for (;;) {
      let msg: Buffer[];
      try {
        msg = await this.router.receive();
      } catch {
        return; // closed
      }
      const [id, body] = msg;
      let reply: LeaderReply;
      let req: LeaderRequest | null = null;
      try {
        req = decodeHeader(body ?? Buffer.alloc(0)) as unknown as LeaderRequest;
        reply = this.handle(req, body?.length ?? 0);
      } catch (e) {
        reply = { v: 1, ok: false, op: req?.op ?? "?", error: (e as Error).message };
        if (!(e instanceof ReportConflictError) && !(e instanceof RangeError)) this.onEvent({ event: "warning", message: (e as Error).message });
      }
      const frame = encodeHeader(reply);
      this.traffic.replyBytes += frame.length;
      this.sendChain = this.sendChain.then(() => this.router.send([id, frame])).catch(() => {});
    }
  }

  private checkNode(req: { node: number }): void {
    if (!Number.isInteger(req.node) || req.node < 0 || req.node >= this.options.nodes)
      throw new RangeError(`node ${req.node} is outside [0, ${this.options.nodes}) (the leader runs with --nodes ${this.options.nodes})`);
  }

  private handle(req: LeaderRequest, bytes: number): LeaderReply {
    if (req.op === "sync") return this.sync(req);
    if (req.op === "report") return this.report(req, bytes);
    throw new RangeError(`unknown op ${JSON.stringify((req as { op?: unknown }).op)}`);
  }

  private sync(req: SyncRequest): LeaderReply {
    this.checkNode(req);
    this.traffic.syncs += 1;
    if (req.nodes !== this.options.nodes)
      throw new RangeError(`node ${req.node} runs with --nodes ${req.nodes}, the leader with --nodes ${this.options.nodes}`);
    if (req.run !== this.run) throw new RangeError(`node ${req.node} runs another config (data, lanes, mixer or feedback_lag differ from the leader's)`);
    const snap = this.book.schedule.snapshot(req.from_step);
    return {
      v: 1,
      ok: true,
      op: "sync",
      ...this.status(),
      entries: snap.entries,
      initial: snap.initial,
      held: this.book.heldFrom(req.node),
      weights: this.weightsEndpoint,
      leader_id: this.leaderId,
    };
  }

  private report(req: ReportRequest, bytes: number): LeaderReply {
    this.checkNode(req);
    this.traffic.reports += 1;
    this.traffic.reportBytes += bytes;
    const before = this.book.waitingFor(this.book.nextFold).length;
    const added = this.book.report(req.node, req.step, req.partial);
    let folds: Fold[] = [];
    if (added) {
      try {
        folds = this.book.foldReady();
      } catch (e) {
        this.onEvent({ event: "warning", message: `the mixer rejected the feedback of step ${req.step}: ${(e as Error).message} (the nodes re-send it)` });
      }
    }
    if (folds.length > 0) this.folded(folds);
    else if (added && this.book.waitingFor(this.book.nextFold).length !== before) this.publishStatus();
    return { v: 1, ok: true, op: "report", step: req.step, ...this.status() };
  }

  /** Log each fold as one service does (feedback, then the weights it made), persist, then publish. */
  private folded(folds: Fold[]): void {
    for (const f of folds) {
      this.log.append(
        f.lr === undefined
          ? { v: 1, type: "feedback", step: f.step, domains: f.logged }
          : { v: 1, type: "feedback", step: f.step, domains: f.logged, lr: f.lr },
      );
      if (f.entry !== null) this.logWeights(f.entry);
    }
    this.book.schedule.forget(this.book.nextFold + this.book.schedule.lag - KEEP_ENTRIES);
    // Persist before publishing: a node never applies weights a restarted leader would not know.
    if (this.options.persist !== false) this.saveState();
    const status = this.status();
    for (const f of folds) {
      if (f.entry !== null) this.publish(SCHEDULE_TOPIC, { v: 1, entry: f.entry, ...status } satisfies ScheduleMessage);
      this.onEvent({ event: "fold", step: f.step, version: f.entry?.version });
    }
    if (folds.every((f) => f.entry === null)) this.publishStatus();
  }

  private publishStatus(): void {
    this.publish(STATUS_TOPIC, { v: 1, ...this.status() });
  }

  private publish(topic: string, msg: object): void {
    const frames = [Buffer.from(topic), encodeHeader(msg)];
    this.traffic.published += 1;
    this.pubChain = this.pubChain.then(() => this.pub.send(frames)).catch(() => {});
  }

  private weightsMap(w: readonly number[]): DomainMap<number> {
    let out = this.weightMaps.get(w);
    if (out === undefined) {
      out = {};
      for (let i = 0; i < this.domains.length; i++) out[this.domains[i]] = w[i];
      this.weightMaps.set(w, out);
    }
    return out;
  }

  private logWeights(e: ScheduleEntry): void {
    this.log.append({ v: 1, type: "weights", version: e.version, effective_step: e.step, weights: this.weightsMap(e.weights), mixer: this.mixer.name });
  }

  state(): LeaderState {
    return {
      format: "mixload-leader-state",
      version: 1,
      run_id: this.runId,
      run: this.run,
      mixer: { name: this.mixer.name, state: this.mixer.state() },
      schedule: this.book.schedule.snapshot(this.book.nextFold + this.book.schedule.lag - BLOB_ENTRIES),
      next_fold: this.book.nextFold,
      feedback_lag: this.book.schedule.lag,
    };
  }

  get stateFile(): string {
    return path.join(this.runDir, "leader-state.bin");
  }

  private saveState(): void {
    try {
      writeFileAtomic(this.stateFile, encodeStateBlob(this.state()));
    } catch (e) {
      this.onEvent({ event: "warning", message: `cannot write ${this.stateFile}: ${(e as Error).message}` });
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.options.persist !== false) this.saveState();
    await this.sendChain;
    await this.pubChain;
    this.router.linger = 500;
    this.router.close();
    this.pub.close();
    await this.receiving;
    this.log.close();
    this.onEvent({ event: "stop", step: this.book.nextFold });
  }
}

/** The mixer's domain info (natural sizes), read the way a service reads it: from the loader over the config's sources. */
async function openDomainInfo(loaded: LoadedConfig): Promise<DomainInfo[]> {
  const { Loader } = await import("../loader/loader.js");
  const loader = await Loader.open(loaded, { workers: 0 });
  try {
    return await loader.domainInfo();
  } finally {
    await loader.close();
  }
}

function checkLeaderState(value: unknown, where: string): LeaderState {
  const s = value as Partial<LeaderState> | null;
  if (typeof s !== "object" || s === null || s.format !== "mixload-leader-state" || s.version !== 1)
    throw new StateBlobError(where, "not a mixload leader state (the leader writes RUN_DIR/leader-state.bin)");
  return s as LeaderState;
}
