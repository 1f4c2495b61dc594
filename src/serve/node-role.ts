/**
 * What makes a service a node service (docs/scale-out.md), kept out of service.ts: the layout
 * (its ranks and lanes), resuming from the state blobs of several nodes (merging the lanes it
 * needs, and the feedback recorded for them), and the `not_ready` message that names the node
 * the leader still waits for.
 */
import { mergeLoaderStates, type LoaderState } from "../loader/loader.js";
import { decodeStateBlob, readStateFile, ResumeMismatchError, StateBlobError } from "../loader/state-blob.js";
import type { ScheduleEntry } from "../schedule/weight-schedule.js";
import { partialOf, type FeedbackBook, type PartialFeedback, type RankFeedback } from "./feedback-book.js";
import type { FoldStatus, NodeLayout } from "./leader-wire.js";
import type { ServeState } from "./service.js";

/** Read one blob (path or bytes) as a serve state. */
export function readServeState(source: string | Uint8Array): ServeState {
  const where = typeof source === "string" ? source : "resume blob";
  const value = typeof source === "string" ? readStateFile(source) : decodeStateBlob(source);
  const s = value as Partial<ServeState> | null;
  if (typeof s !== "object" || s === null || s.format !== "mixload-serve-state" || s.version !== 1) {
    throw new StateBlobError(
      where,
      "not a mixload serve state (was it written by `mixload batches --save-state`? serve needs the blob of `serve`'s state op or state.bin)",
    );
  }
  return s as ServeState;
}

/**
 * Several nodes' blobs (same step, disjoint lanes) as one state: the loader states merged, the
 * schedule entries united, the feedback of each step united by rank. One blob is returned as is.
 */
export function mergeServeStates(states: readonly ServeState[], names: readonly string[]): ServeState {
  if (states.length === 1) return states[0];
  const first = states[0];
  states.forEach((s, i) => {
    if (s.step !== first.step)
      throw new ResumeMismatchError(`${names[i]} resumes at step ${s.step}, ${names[0]} at step ${first.step}: node blobs must come from one \`state\` step`);
    if (s.feedback_lag !== first.feedback_lag || s.mixer.name !== first.mixer.name)
      throw new ResumeMismatchError(`${names[i]} and ${names[0]} differ in mixer or feedback_lag: they are not of one run`);
  });
  const loader: LoaderState = mergeLoaderStates(states.map((s) => s.loader));
  const entries = new Map<number, ScheduleEntry>();
  for (const s of states) for (const e of s.schedule.entries) entries.set(e.step, e);
  const steps = new Map<number, { step: number; ranks: (RankFeedback | null)[]; aggregated?: boolean }>();
  for (const s of states) {
    for (const rec of s.feedback.steps) {
      const had = steps.get(rec.step);
      if (had === undefined) {
        steps.set(rec.step, structuredClone(rec));
        continue;
      }
      if (had.aggregated !== rec.aggregated || had.ranks.length !== rec.ranks.length) {
        throw new ResumeMismatchError(`step ${rec.step} was recorded with different worlds or forms in ${names.join(", ")}`);
      }
      rec.ranks.forEach((r, i) => {
        if (r !== null) had.ranks[i] = structuredClone(r);
      });
    }
  }
  return {
    ...first,
    loader,
    schedule: {
      ...first.schedule,
      entries: [...entries.values()].sort((a, b) => a.step - b.step),
      version: Math.max(...states.map((s) => s.schedule.version)),
    },
    feedback: { next_fold: Math.min(...states.map((s) => s.feedback.next_fold)), steps: [...steps.values()].sort((a, b) => a.step - b.step) },
    // Served counters are each node's own; after a re-layout they restart (a node cannot tell which were its ranks').
    served: { tokens: 0, padding: 0, domainTokens: first.served.domainTokens.map(() => 0), rankBatches: 0 },
    node: undefined,
  };
}

/**
 * Put a resumed state's feedback into a book. Same world: every record as is (a node completes
 * its own ranks' slots). Another world (elastic resume): a step every old rank reported becomes
 * a partial over the old ranks this node takes (old rank r goes to node ⌊r·nodes/world_old⌋, so
 * each is counted by exactly one node and the leader's exact sum is the same); a step only some
 * ranks reported cannot be mapped, and is refused in one line. Returns the partials to forward.
 */
export function restoreBook(book: FeedbackBook, state: ServeState, layout: NodeLayout | null): Map<number, PartialFeedback> {
  const forward = new Map<number, PartialFeedback>();
  for (const s of state.feedback.steps) {
    if (s.aggregated === true) {
      book.restoreStep(s.step, { ranks: s.ranks, aggregated: true }); // one entry for all ranks, whatever the world
      continue;
    }
    if (s.ranks.length === book.world) {
      book.restoreStep(s.step, { ranks: s.ranks });
      continue;
    }
    const reported = s.ranks.filter((r) => r !== null).length;
    if (reported === 0) continue;
    if (layout !== null && reported === s.ranks.length) {
      const W = s.ranks.length;
      const mine = s.ranks.map((r, i) => (Math.floor((i * layout.count) / W) === layout.index ? r : null));
      forward.set(s.step, partialOf(mine));
      continue;
    }
    throw new ResumeMismatchError(
      `the state was taken with world ${s.ranks.length} while step ${s.step} had feedback from ${reported} of its ranks; resume it with world ${s.ranks.length}, or from a state taken when no step was partly reported`,
    );
  }
  return forward;
}

/**
 * A node's `not_ready` text for step s, whose weights (step t) wait for the fold of step t − lag:
 * its own ranks first (the node has not completed that step), then the nodes the leader waits
 * for, then a silent leader.
 */
export function nodeNotReady(
  s: number,
  t: number,
  deciding: number,
  ownMissing: number[],
  status: FoldStatus | null,
  lastHeard: number,
  leader: string,
  lag: number,
): string {
  if (ownMissing.length > 0) {
    const ranks = ownMissing.length > 16 ? `${ownMissing.slice(0, 16).join(", ")}, … (${ownMissing.length} ranks)` : ownMissing.join(", ");
    return `step ${s} is not ready: the weights of step ${t} wait for the feedback of step ${deciding} from rank${ownMissing.length > 1 ? "s" : ""} ${ranks} (feedback_lag ${lag}); retry later`;
  }
  const silent = lastHeard === 0 ? "has not answered yet" : `has not been heard from for ${((Date.now() - lastHeard) / 1000).toFixed(1)} s`;
  if (status === null || Date.now() - lastHeard > 2000)
    return `step ${s} is not ready: the weights of step ${t} wait for the leader at ${leader}, which ${silent}; retry later`;
  const nodes = status.waiting;
  const who =
    nodes.length === 0 ? "no node (it is folding)" : `node${nodes.length > 1 ? "s" : ""} ${nodes.slice(0, 16).join(", ")}${nodes.length > 16 ? ", …" : ""}`;
  return `step ${s} is not ready: the weights of step ${t} wait for the leader's fold of step ${status.next_fold}, which waits for the feedback of ${who}; retry later`;
}
