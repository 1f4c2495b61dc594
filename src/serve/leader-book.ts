/**
 * The leader's feedback book (docs/scale-out.md): one partial per (step, node), and the fold of
 * a step once every node has reported it, in step order, through the run's WeightSchedule (the
 * lag rule lives there). Plain data and rules, no sockets: the leader process drives it, the
 * bench drives it with simulated nodes.
 *
 * Node partials are exact sums (exact-sum.ts); they are combined in node order and rounded
 * once, so the aggregate equals what one service computes from the same ranks' feedback, and
 * the schedule — every weight change and its effective step — is the same bit for bit.
 */
import type { Mixer } from "../../mixers/contract.js";
import { WeightSchedule, type ScheduleEntry, type ScheduleSnapshot } from "../schedule/weight-schedule.js";
import { finishPartial, mergePartial, type PartialFeedback } from "./feedback-book.js";

/** A folded step: the aggregate the mixer got (for the log) and the schedule entry it made (dynamic mixers). */
export interface Fold {
  step: number;
  logged: Record<string, Record<string, number>>;
  lr?: number;
  entry: ScheduleEntry | null;
}

export class ReportConflictError extends Error {}

export class LeaderBook {
  private readonly steps = new Map<number, (PartialFeedback | null)[]>();
  /** Canonical JSON of each recorded partial, to tell an identical re-send from a conflicting one. */
  private readonly texts = new Map<number, (string | null)[]>();
  readonly schedule: WeightSchedule;
  nextFold: number;

  constructor(
    readonly nodes: number,
    private readonly domains: readonly string[],
    mixer: Mixer,
    lag: number,
    saved?: { schedule: ScheduleSnapshot; next_fold: number },
  ) {
    this.schedule = new WeightSchedule(mixer, lag, saved?.schedule);
    this.nextFold = saved?.next_fold ?? 0;
  }

  /**
   * Node `node`'s partial for `step`. Returns false for a step already folded or an identical
   * re-send (nodes re-send until they hear of the fold), true when recorded; throws
   * ReportConflictError for a different partial from the same node.
   */
  report(node: number, step: number, partial: PartialFeedback): boolean {
    if (step < this.nextFold) return false;
    let row = this.steps.get(step);
    let texts = this.texts.get(step);
    if (row === undefined || texts === undefined) {
      row = new Array<PartialFeedback | null>(this.nodes).fill(null);
      texts = new Array<string | null>(this.nodes).fill(null);
      this.steps.set(step, row);
      this.texts.set(step, texts);
    }
    const text = JSON.stringify(partial);
    const had = texts[node];
    if (had !== null) {
      if (had !== text) throw new ReportConflictError(`node ${node} re-sent step ${step} with different feedback`);
      return false;
    }
    row[node] = partial;
    texts[node] = text;
    return true;
  }

  /** Nodes that have not reported `step` (all of them before any did). */
  waitingFor(step: number): number[] {
    const row = this.steps.get(step);
    const out: number[] = [];
    for (let n = 0; n < this.nodes; n++) if (row === undefined || row[n] === null) out.push(n);
    return out;
  }

  /** Steps ≥ nextFold that `node` has reported (a restarted leader tells nodes what to re-send). */
  heldFrom(node: number): number[] {
    const out: number[] = [];
    for (const [step, row] of this.steps) if (step >= this.nextFold && row[node] !== null) out.push(step);
    return out.sort((a, b) => a - b);
  }

  /**
   * Fold every complete step in order. A mixer that rejects a step throws with its state
   * untouched (WeightSchedule.fold) and the step's partials dropped: the nodes re-send.
   */
  foldReady(): Fold[] {
    const out: Fold[] = [];
    for (;;) {
      const step = this.nextFold;
      const row = this.steps.get(step);
      if (row === undefined || row.some((p) => p === null)) return out;
      const combined: PartialFeedback = { domains: {} };
      for (const p of row) mergePartial(combined, p!);
      const agg = finishPartial(step, combined, this.domains);
      let entry: ScheduleEntry | null;
      try {
        entry = this.schedule.fold(agg.feedback);
      } catch (e) {
        this.steps.delete(step);
        this.texts.delete(step);
        throw e;
      }
      this.steps.delete(step);
      this.texts.delete(step);
      this.nextFold = step + 1;
      out.push(agg.lr === undefined ? { step, logged: agg.logged, entry } : { step, logged: agg.logged, lr: agg.lr, entry });
    }
  }
}
