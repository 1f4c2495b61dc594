/**
 * Feedback per (step, rank) until every rank of a step has reported, then one aggregate per
 * step for the mixer. Aggregation over ranks (mixers/types.ts): every field summed except
 * `grad_alignment` (and `eval_loss`, a mean, not a sum), averaged over the ranks that reported it; `lr` from the lowest rank that
 * sent one. Sums are exact (exact-sum.ts), so any grouping of ranks — one service, or node
 * services whose partials the leader combines — gives the same aggregate to the bit.
 * A re-sent (step, rank) must match what was recorded, byte for byte in meaning.
 */
import type { DomainFeedback, StepFeedback } from "../../mixers/contract.js";
import { OPTIONAL_SIGNALS, ProtocolError, type DomainSignals } from "../protocol/types.js";
import { addExact, mergeExact, roundExact } from "./exact-sum.js";

/** One rank's feedback for one step, normalised (domain order, fields merged). JSON-able. */
export interface RankFeedback {
  domains: Record<string, DomainSignals>;
  lr?: number;
}

export function rankFeedback(signals: Map<string, DomainSignals>, domains: readonly string[], lr: number | undefined): RankFeedback {
  const out: Record<string, DomainSignals> = {};
  for (const name of domains) {
    const s = signals.get(name);
    if (s === undefined) continue;
    const e: DomainSignals = { loss_sum: s.loss_sum, tokens: s.tokens };
    for (const f of OPTIONAL_SIGNALS) if (s[f] !== undefined) e[f] = s[f];
    out[name] = e;
  }
  return lr === undefined ? { domains: out } : { domains: out, lr };
}

/** Same content? (Records are normalised, so key order is canonical.) */
export function sameFeedback(a: RankFeedback, b: RankFeedback): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export interface StepRecord {
  /** One entry per rank; or, for feedback sent reduced over all ranks (`all_ranks`), that one entry. */
  ranks: (RankFeedback | null)[];
  /** The step came as one all-ranks feedback (PROTOCOL.md extension): complete by itself. */
  aggregated?: boolean;
}

export function isComplete(r: StepRecord): boolean {
  return r.aggregated === true ? r.ranks[0] !== null : r.ranks.every((x) => x !== null);
}

/** Fields summed over ranks, and fields averaged over the ranks that reported them (mixers/contract.ts). */
const SUMMED = ["loss_sum", "tokens", "ref_loss_sum", "excess_loss_sum"] as const;
const AVERAGED = ["grad_alignment", "eval_loss"] as const;
type Field = (typeof SUMMED)[number] | (typeof AVERAGED)[number];

/**
 * Some ranks' feedback for one step, summed exactly (exact-sum.ts): per domain and field the
 * partials of the exact sum, and for averaged fields how many ranks reported them; `lr` with the
 * rank it came from. What a node service sends the leader; one service makes one over all ranks.
 * Combining partials in any grouping gives the same aggregate, bit for bit.
 */
export interface PartialFeedback {
  domains: Record<string, { sums: Partial<Record<Field, number[]>>; counts?: Partial<Record<Field, number>> }>;
  lr?: number;
  /** The rank `lr` came from (the lowest that sent one wins when partials combine). */
  lr_rank?: number;
}

/** Sum `ranks` (global rank of entry i: `firstRank + i`; nulls skipped) into one partial. */
export function partialOf(ranks: readonly (RankFeedback | null)[], firstRank = 0): PartialFeedback {
  const out: PartialFeedback = { domains: {} };
  ranks.forEach((rank, i) => {
    if (rank === null) return;
    for (const [name, s] of Object.entries(rank.domains)) addSignals(out, name, s);
    if (rank.lr !== undefined && out.lr === undefined) {
      out.lr = rank.lr;
      out.lr_rank = firstRank + i;
    }
  });
  return out;
}

function addSignals(into: PartialFeedback, name: string, s: DomainSignals): void {
  const d = (into.domains[name] ??= { sums: {} });
  for (const f of SUMMED) {
    const v = s[f];
    if (v !== undefined) addExact((d.sums[f] ??= []), v);
  }
  for (const f of AVERAGED) {
    const v = s[f];
    if (v === undefined) continue;
    addExact((d.sums[f] ??= []), v);
    d.counts ??= {};
    d.counts[f] = (d.counts[f] ?? 0) + 1;
  }
}

/** Merge partial `b` into `a` (exact; `lr` from the lower rank). */
export function mergePartial(a: PartialFeedback, b: PartialFeedback): PartialFeedback {
  for (const [name, d] of Object.entries(b.domains)) {
    const into = (a.domains[name] ??= { sums: {} });
    for (const [f, parts] of Object.entries(d.sums) as [Field, number[]][]) mergeExact((into.sums[f] ??= []), parts);
    for (const [f, n] of Object.entries(d.counts ?? {}) as [Field, number][]) {
      into.counts ??= {};
      into.counts[f] = (into.counts[f] ?? 0) + n;
    }
  }
  if (b.lr !== undefined && (a.lr === undefined || (b.lr_rank ?? Infinity) < (a.lr_rank ?? Infinity))) {
    a.lr = b.lr;
    a.lr_rank = b.lr_rank;
  }
  return a;
}

/** A partial's aggregate: the mixer's StepFeedback plus a JSON-able copy for the log (fields in a fixed order). */
export function finishPartial(
  step: number,
  partial: PartialFeedback,
  domains: readonly string[],
): { feedback: StepFeedback; logged: Record<string, Record<string, number>>; lr?: number } {
  const map = new Map<number, DomainFeedback>();
  const logged: Record<string, Record<string, number>> = {};
  domains.forEach((name, index) => {
    const d = partial.domains[name];
    if (d === undefined) return;
    const sum: DomainFeedback = { loss_sum: roundExact(d.sums.loss_sum ?? []), tokens: roundExact(d.sums.tokens ?? []) };
    for (const f of ["ref_loss_sum", "excess_loss_sum"] as const) if (d.sums[f] !== undefined) sum[f] = roundExact(d.sums[f]);
    for (const f of AVERAGED) {
      const n = d.counts?.[f] ?? 0;
      if (n > 0) sum[f] = roundExact(d.sums[f] ?? []) / n;
    }
    map.set(index, sum);
    logged[name] = { ...sum } as Record<string, number>;
  });
  const lr = partial.lr;
  const feedback: StepFeedback = lr === undefined ? { step, domains: map } : { step, domains: map, lr };
  return lr === undefined ? { feedback, logged } : { feedback, logged, lr };
}

/**
 * Sum over ranks (grad_alignment and eval_loss averaged over the ranks that reported them, `lr`
 * from the lowest rank) → the mixer's StepFeedback plus a JSON-able copy for the log. Sums are
 * exact and rounded once, so one service and node services + leader agree to the bit.
 */
export function aggregate(
  step: number,
  record: StepRecord,
  domains: readonly string[],
): { feedback: StepFeedback; logged: Record<string, Record<string, number>>; lr?: number } {
  return finishPartial(step, partialOf(record.ranks), domains);
}

/** A step's feedback slots this book must fill: ranks [lo, hi) of the world (a node's ranks), or all. */
export interface RankRange {
  lo: number;
  hi: number;
}

/** What a book saves in resume state (the layout `ServeState.feedback` has always had). */
export interface BookSnapshot {
  next_fold: number;
  steps: { step: number; ranks: (RankFeedback | null)[]; aggregated?: boolean }[];
}

/**
 * The feedback book: (step, rank) feedback until a step is complete, and the next step to fold.
 * Plain data and rules, no sockets: the service and node services drive it, tests drive it
 * directly. A record holds one slot per rank of the world (a node fills only its own ranks'
 * slots), or one slot for an `all_ranks` feedback.
 */
export class FeedbackBook {
  private readonly steps = new Map<number, StepRecord>();
  /** The next step to fold (single service) or that the leader has not folded yet (node service). */
  nextFold: number;

  constructor(
    readonly world: number,
    readonly owned: RankRange = { lo: 0, hi: world },
    nextFold = 0,
  ) {
    this.nextFold = nextFold;
  }

  get(step: number): StepRecord | undefined {
    return this.steps.get(step);
  }

  /** Every slot this book fills has reported (or the one all_ranks slot). */
  isComplete(step: number): boolean {
    const r = this.steps.get(step);
    if (r === undefined) return false;
    if (r.aggregated === true) return r.ranks[0] !== null;
    for (let i = this.owned.lo; i < this.owned.hi; i++) if (r.ranks[i] === null || r.ranks[i] === undefined) return false;
    return true;
  }

  /** Ranks of the owned range that have not reported `step` (all of them for a step with no record). */
  missing(step: number): number[] {
    const r = this.steps.get(step);
    const out: number[] = [];
    if (r?.aggregated === true) return r.ranks[0] === null ? [this.owned.lo] : [];
    for (let i = this.owned.lo; i < this.owned.hi; i++) if (r === undefined || r.ranks[i] === null) out.push(i);
    return out;
  }

  /**
   * Record one rank's feedback (or one `all_ranks` feedback). Returns false for an identical
   * re-send; throws ProtocolError for a conflicting one or for mixing the two forms. `isNew`
   * says whether a record may be created for this step (the caller knows the window).
   */
  record(step: number, rank: number, fb: RankFeedback, allRanks: boolean, isNew: () => void): boolean {
    let record = this.steps.get(step);
    if (record === undefined) {
      isNew();
      record = allRanks ? { ranks: [null], aggregated: true } : { ranks: new Array<RankFeedback | null>(this.world).fill(null) };
      this.steps.set(step, record);
    } else if (allRanks !== (record.aggregated === true)) {
      // One or the other per step: a reduced feedback on top of per-rank ones would count them twice.
      throw new ProtocolError(
        "invalid_feedback",
        allRanks
          ? `step ${step} already has per-rank feedback; send either one all_ranks feedback or one feedback per rank`
          : `step ${step} was already reported for all ranks (all_ranks); per-rank feedback would count it twice`,
        "all_ranks",
      );
    }
    const slot = allRanks ? 0 : rank;
    const had = record.ranks[slot];
    if (had !== null) {
      if (!sameFeedback(had, fb)) {
        throw new ProtocolError("invalid_feedback", `step ${step} rank ${rank} already reported different feedback (a re-send must be identical)`, "rank");
      }
      return false;
    }
    record.ranks[slot] = fb;
    return true;
  }

  /** Take back a slot just recorded (the mixer rejected the step it completed). */
  unrecord(step: number, rank: number, allRanks: boolean): void {
    const record = this.steps.get(step);
    if (record === undefined) return;
    record.ranks[allRanks ? 0 : rank] = null;
    if (record.ranks.every((r) => r === null)) this.steps.delete(step);
  }

  delete(step: number): void {
    this.steps.delete(step);
  }

  /** The owned slots of `step` summed exactly (a node's share for the leader). */
  partial(step: number): PartialFeedback {
    const r = this.steps.get(step);
    if (r === undefined) return { domains: {} };
    if (r.aggregated === true) return partialOf(r.ranks, this.owned.lo);
    return partialOf(r.ranks.slice(this.owned.lo, this.owned.hi), this.owned.lo);
  }

  /** Drop steps below `oldest` that are folded (a step not folded yet is still needed). */
  evict(oldest: number): void {
    for (const s of this.steps.keys()) if (s < oldest && s < this.nextFold) this.steps.delete(s);
  }

  /** Recorded steps in step order. */
  stepsInOrder(): number[] {
    return [...this.steps.keys()].sort((a, b) => a - b);
  }

  snapshot(): BookSnapshot {
    const steps = this.stepsInOrder().map((step) => {
      const rec = this.steps.get(step)!;
      return { step, ranks: rec.ranks.map((x) => (x === null ? null : structuredClone(x))), ...(rec.aggregated ? { aggregated: true } : {}) };
    });
    return { next_fold: this.nextFold, steps };
  }

  /** Put a saved step back (resume). */
  restoreStep(step: number, record: StepRecord): void {
    this.steps.set(step, record);
  }
}
