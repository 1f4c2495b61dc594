/**
 * A node service's line to the leader (leader-wire.ts): a DEALER for sync and reports and a SUB
 * for the weights the leader publishes. It forwards each step the node's ranks completed (their
 * exact partial sum) and keeps it until the leader's fold frontier passes it, re-sending what a
 * (restarted) leader says it does not hold; it hands every schedule entry it hears of, from PUB
 * or from a sync reply, to the service, which applies it at exactly its effective step.
 */
import * as zmq from "zeromq";
import { decodeHeader, encodeHeader } from "../protocol/codec.js";
import type { ScheduleEntry } from "../schedule/weight-schedule.js";
import type { PartialFeedback } from "./feedback-book.js";
import {
  SCHEDULE_TOPIC,
  STATUS_TOPIC,
  SYNC_INTERVAL_MS,
  type FoldStatus,
  type LeaderReply,
  type NodeLayout,
  type ReportRequest,
  type ScheduleMessage,
  type SyncRequest,
} from "./leader-wire.js";

export interface NodeLinkHandlers {
  /** A schedule entry (possibly one already known: adopting is idempotent). */
  entry(e: ScheduleEntry): void;
  /** The leader's fold frontier moved or its waiting list changed. */
  status(s: FoldStatus): void;
  /** The lowest step whose weights the node still needs (its next step to build). */
  fromStep(): number;
  warn(message: string): void;
}

export class NodeLink {
  private readonly dealer: zmq.Dealer;
  private readonly sub: zmq.Subscriber;
  /** Completed steps not yet folded by the leader, as forwarded. */
  private readonly pending = new Map<number, PartialFeedback>();
  private subscribedTo: string | null = null;
  private leaderId: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private sendChain: Promise<void> = Promise.resolve();
  private loops: Promise<void>[] = [];
  private closed = false;
  private syncSentAt = 0;
  private syncAnswered = true;
  /** The leader's last known fold frontier (null before it first answered). */
  status: FoldStatus | null = null;
  /** When the leader was last heard from (ms since the epoch; 0: never). */
  lastHeard = 0;
  private readonly errorsLogged = new Set<string>();

  constructor(
    context: zmq.Context,
    readonly layout: NodeLayout,
    readonly leader: string,
    private readonly run: string,
    private readonly handlers: NodeLinkHandlers,
  ) {
    this.dealer = new zmq.Dealer({ context, sendHighWaterMark: 10_000, receiveHighWaterMark: 10_000, linger: 0 });
    this.sub = new zmq.Subscriber({ context, linger: 0 });
  }

  start(): void {
    this.dealer.connect(this.leader);
    this.sub.subscribe(SCHEDULE_TOPIC, STATUS_TOPIC);
    this.loops = [this.replyLoop(), this.subLoop()];
    this.sync();
    this.timer = setInterval(() => this.sync(), SYNC_INTERVAL_MS);
  }

  /** Forward a completed step's partial (kept and re-sent until the leader folds the step). */
  report(step: number, partial: PartialFeedback): void {
    if (this.status !== null && step < this.status.next_fold) return;
    this.pending.set(step, partial);
    this.send({ v: 1, op: "report", node: this.layout.index, step, partial } satisfies ReportRequest);
  }

  /** Steps forwarded whose fold the node has not heard of yet. */
  get unfolded(): number[] {
    return [...this.pending.keys()].sort((a, b) => a - b);
  }

  private sync(): void {
    if (this.closed) return;
    // One sync in flight; a leader that does not answer is asked again after a second (it may have restarted).
    if (!this.syncAnswered && Date.now() - this.syncSentAt < 1000) return;
    this.syncAnswered = false;
    this.syncSentAt = Date.now();
    this.send({
      v: 1,
      op: "sync",
      node: this.layout.index,
      nodes: this.layout.count,
      run: this.run,
      from_step: this.handlers.fromStep(),
    } satisfies SyncRequest);
  }

  private send(msg: object): void {
    const frame = encodeHeader(msg);
    this.sendChain = this.sendChain.then(() => this.dealer.send(frame)).catch(() => {});
  }

  private setStatus(s: FoldStatus): void {
    this.lastHeard = Date.now();
    const prev = this.status;
    if (prev !== null && s.next_fold < prev.next_fold) {
      // A leader restarted from an older blob: its frontier is the truth now.
    }
    this.status = { next_fold: s.next_fold, waiting: s.waiting };
    for (const step of this.pending.keys()) if (step < s.next_fold) this.pending.delete(step);
    if (prev === null || prev.next_fold !== s.next_fold || prev.waiting.join() !== s.waiting.join()) this.handlers.status(this.status);
  }

  private async replyLoop(): Promise<void> {
    for (;;) {
      let frames: Buffer[];
      try {
        frames = await this.dealer.receive();
      } catch {
        return;
      }
      let r: LeaderReply;
      try {
        r = decodeHeader(frames[frames.length - 1]) as unknown as LeaderReply;
      } catch (e) {
        this.handlers.warn(`undecodable reply from the leader: ${(e as Error).message}`);
        continue;
      }
      if (!r.ok) {
        this.lastHeard = Date.now();
        if (r.op === "sync") this.syncAnswered = true;
        if (!this.errorsLogged.has(r.error)) {
          this.errorsLogged.add(r.error);
          this.handlers.warn(`the leader refused a ${r.op}: ${r.error}`);
        }
        continue;
      }
      if (r.op === "sync") {
        this.syncAnswered = true;
        for (const e of r.entries) this.handlers.entry(e);
        if (this.subscribedTo !== r.weights) {
          if (this.subscribedTo !== null) this.sub.disconnect(this.subscribedTo);
          this.sub.connect(r.weights);
          this.subscribedTo = r.weights;
        }
        this.setStatus(r);
        // Re-send every completed step the leader does not hold (it restarted, or a report was lost).
        const held = new Set(r.held);
        const restarted = this.leaderId !== null && this.leaderId !== r.leader_id;
        this.leaderId = r.leader_id;
        for (const [step, partial] of this.pending) {
          if (step >= r.next_fold && !held.has(step)) this.send({ v: 1, op: "report", node: this.layout.index, step, partial } satisfies ReportRequest);
        }
        if (restarted) this.handlers.warn(`the leader restarted (now ${r.leader_id}, fold frontier ${r.next_fold}); re-sent ${this.pending.size} step(s)`);
      } else {
        this.setStatus(r);
      }
    }
  }

  private async subLoop(): Promise<void> {
    for (;;) {
      let frames: Buffer[];
      try {
        frames = await this.sub.receive();
      } catch {
        return;
      }
      const topic = frames[0].toString();
      let msg: ScheduleMessage | (FoldStatus & { v: 1 });
      try {
        msg = decodeHeader(frames[1]) as unknown as ScheduleMessage;
      } catch {
        continue;
      }
      if (topic === SCHEDULE_TOPIC) this.handlers.entry((msg as ScheduleMessage).entry);
      this.setStatus(msg);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) clearInterval(this.timer);
    await Promise.race([this.sendChain, new Promise((r) => setTimeout(r, 200))]);
    this.dealer.close();
    this.sub.close();
    await Promise.allSettled(this.loops);
  }
}
