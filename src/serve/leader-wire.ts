/**
 * What the leader and its node services say to each other (docs/scale-out.md). ZeroMQ, the
 * transport the service already uses: each node's DEALER talks to the leader's ROUTER (sync and
 * reports, one reply each), and the leader's PUB sends every fold's weights (topic `schedule`)
 * and who it waits for (topic `status`) to every node's SUB. Headers are MessagePack maps
 * (protocol/codec.ts), as in PROTOCOL v1; trainers never see these messages.
 *
 * PUB/SUB drops what a subscriber missed (the slow joiner, a reconnect, a restarted leader), so
 * PUB is only the fast path: every node syncs over its DEALER at start and then every
 * SYNC_INTERVAL_MS, and a sync reply carries every schedule entry from the node's next step to
 * build on, the fold frontier and the steps the leader holds from it (what to re-send).
 */
import { createHash } from "node:crypto";
import type { Config } from "../config/schema.js";
import { fingerprintInputs } from "../loader/loader.js";
import type { ScheduleEntry } from "../schedule/weight-schedule.js";
import type { PartialFeedback } from "./feedback-book.js";

export const SCHEDULE_TOPIC = "schedule";
export const STATUS_TOPIC = "status";
/** A node's sync period: the bound on how late a node learns of weights it missed on PUB, and of a restarted leader. */
export const SYNC_INTERVAL_MS = 200;

export interface SyncRequest {
  v: 1;
  op: "sync";
  node: number;
  nodes: number;
  /** runIdentity(config): nodes and leader must run the same data, mixer and lag. */
  run: string;
  /** The node needs the weights of steps ≥ this (its next step to build). */
  from_step: number;
}

export interface ReportRequest {
  v: 1;
  op: "report";
  node: number;
  step: number;
  partial: PartialFeedback;
}

export type LeaderRequest = SyncRequest | ReportRequest;

/** The leader's fold frontier: the next step to fold, and the nodes that have not reported it. */
export interface FoldStatus {
  next_fold: number;
  waiting: number[];
}

export interface SyncReply extends FoldStatus {
  v: 1;
  ok: true;
  op: "sync";
  /** Schedule entries with step ≥ the request's from_step, in step order. */
  entries: ScheduleEntry[];
  initial: ScheduleEntry;
  /** Steps ≥ next_fold the leader holds from this node (a node re-sends the others it has). */
  held: number[];
  /** The leader's PUB endpoint (nodes subscribe once they know it). */
  weights: string;
  /** Changes when the leader restarts (a node then re-sends what the leader does not hold). */
  leader_id: string;
}

export interface ReportReply extends FoldStatus {
  v: 1;
  ok: true;
  op: "report";
  step: number;
}

export interface LeaderError {
  v: 1;
  ok: false;
  op: string;
  error: string;
}

export type LeaderReply = SyncReply | ReportReply | LeaderError;

export interface ScheduleMessage extends FoldStatus {
  v: 1;
  entry: ScheduleEntry;
}

/** What nodes and leader must agree on: the batch-shaping config (loader fingerprint inputs), lanes, mixer and lag. */
export function runIdentity(config: Config): string {
  const lanes = (config as { lanes?: number }).lanes ?? 1;
  const text = JSON.stringify({ shaping: fingerprintInputs(config), lanes, mixer: config.mixer, lag: config.serve.feedback_lag });
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

/** Node `index` of `count`: its ranks [lo, hi) of `world` and its lanes [first, first + count) of `lanes`. */
export interface NodeLayout {
  index: number;
  count: number;
  ranks: { lo: number; hi: number };
  lanes: { first: number; count: number };
}

/** The layout of node `index` of `count`, or a one-line reason it cannot be. */
export function nodeLayout(index: number, count: number, world: number, lanes: number): NodeLayout {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`--nodes must be an integer ≥ 1, got ${count}`);
  if (!Number.isInteger(index) || index < 0 || index >= count) throw new RangeError(`--node must be in [0, ${count}), got ${index}`);
  if (world % count !== 0) throw new RangeError(`world ${world} does not split over ${count} nodes (world % nodes must be 0)`);
  if (lanes % count !== 0) throw new RangeError(`lanes ${lanes} does not split over ${count} nodes (set lanes to a multiple of ${count})`);
  const per = world / count;
  const lanesPer = lanes / count;
  return { index, count, ranks: { lo: index * per, hi: (index + 1) * per }, lanes: { first: index * lanesPer, count: lanesPer } };
}
