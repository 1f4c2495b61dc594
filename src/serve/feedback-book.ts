/**
 * Feedback per (step, rank) until every rank of a step has reported, then one aggregate per
 * step for the mixer. Aggregation over ranks (mixers/types.ts): every field summed except
 * `grad_alignment` (and `eval_loss`, a mean, not a sum), averaged over the ranks that reported it; `lr` from the lowest rank that
 * sent one. A re-sent (step, rank) must match what was recorded, byte for byte in meaning.
 */
import type { DomainFeedback, StepFeedback } from "../../mixers/contract.js";
import { OPTIONAL_SIGNALS, type DomainSignals } from "../protocol/types.js";

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

/** Sum over ranks (grad_alignment averaged) → the mixer's StepFeedback plus a JSON-able copy for the log. */
export function aggregate(
  step: number,
  record: StepRecord,
  domains: readonly string[],
): { feedback: StepFeedback; logged: Record<string, Record<string, number>>; lr?: number } {
  const map = new Map<number, DomainFeedback>();
  const logged: Record<string, Record<string, number>> = {};
  let lr: number | undefined;
  domains.forEach((name, index) => {
    let seen = false;
    const sum: DomainFeedback = { loss_sum: 0, tokens: 0 };
    let gaSum = 0;
    let gaN = 0;
    let evSum = 0;
    let evN = 0;
    for (const rank of record.ranks) {
      const s = rank?.domains[name];
      if (s === undefined) continue;
      seen = true;
      sum.loss_sum += s.loss_sum;
      sum.tokens += s.tokens;
      if (s.ref_loss_sum !== undefined) sum.ref_loss_sum = (sum.ref_loss_sum ?? 0) + s.ref_loss_sum;
      if (s.excess_loss_sum !== undefined) sum.excess_loss_sum = (sum.excess_loss_sum ?? 0) + s.excess_loss_sum;
      if (s.eval_loss !== undefined) {
        evSum += s.eval_loss;
        evN += 1;
      }
      if (s.grad_alignment !== undefined) {
        gaSum += s.grad_alignment;
        gaN += 1;
      }
    }
    if (!seen) return;
    if (gaN > 0) sum.grad_alignment = gaSum / gaN;
    if (evN > 0) sum.eval_loss = evSum / evN;
    map.set(index, sum);
    logged[name] = { ...sum } as Record<string, number>;
  });
  for (const rank of record.ranks) {
    if (rank?.lr !== undefined) {
      lr = rank.lr;
      break;
    }
  }
  const feedback: StepFeedback = lr === undefined ? { step, domains: map } : { step, domains: map, lr };
  return lr === undefined ? { feedback, logged } : { feedback, logged, lr };
}
