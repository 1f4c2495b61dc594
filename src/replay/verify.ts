/**
 * `replay --verify`: rebuild every recorded step from config + seed + the recorded weight
 * schedule (no trainer, no service) and compare it with the log, step by step:
 *
 * - the weights the batch record says it was built with must equal the schedule's weights
 *   for that step (a mismatch names the domain);
 * - the rebuilt global batch's digest must equal the recorded one. When the log also carries
 *   `prefix_digests` (sha256 after each array), the first differing prefix names the array.
 *
 * With a dynamic mixer it also re-derives the schedule: the recorded feedback aggregates,
 * folded in step order through a fresh mixer built from the config, must give exactly the
 * recorded weight changes — so the schedule itself is a pure function of the recorded feedback.
 */
import { effectiveStep, WeightSchedule, type ScheduleEntry } from "../schedule/weight-schedule.js";
import { createHash } from "node:crypto";
import { batchDigest, type Batch } from "../batch/assemble.js";
import { Loader } from "../loader/loader.js";
import { createMixer } from "../../mixers/registry.js";
import type { DomainInfo } from "../../mixers/contract.js";
import { feedbackOf } from "./counterfactual.js";
import { RecordedSchedule, toArray, type RunDir } from "./run-dir.js";

export const BATCH_ARRAYS = ["input_ids", "targets", "position_ids", "domain_ids", "cu_seqlens"] as const;

export interface Mismatch {
  step: number;
  /** What differs: a batch array, `digest` (arrays unknown), `weights`, or `schedule` (re-derived from feedback). */
  what: string;
  detail: string;
}

export interface VerifyResult {
  ok: boolean;
  steps: number;
  matched: number;
  /** Folds re-derived from the feedback and compared with the recorded weight changes (0 for static mixers). */
  folds_checked: number;
  first: Mismatch | null;
  mismatches: number;
  seconds: number;
}

/** Digests of the prefixes input_ids, +targets, … (what a log's `prefix_digests` holds). */
export function prefixDigests(batch: Batch): string[] {
  const h = createHash("sha256");
  return BATCH_ARRAYS.map((name) => {
    const a = batch[name];
    h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    return h.copy().digest("hex");
  });
}

const same = (a: readonly number[], b: readonly number[]): number => {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
};

export async function verifyRun(
  run: RunDir,
  options: {
    workers?: number;
    steps?: number;
    onStep?: (step: number, total: number) => void;
    /** Called with each rebuilt step while its loader is open (awaited: it may read documents). */
    onBatch?: (step: number, batch: Batch, loader: Loader) => void | Promise<void>;
  } = {},
): Promise<VerifyResult> {
  const t0 = Date.now();
  const schedule = new RecordedSchedule(run);
  const total = Math.min(schedule.length, options.steps ?? Infinity);
  const byStep = new Map(run.batches.map((b) => [b.step, b]));
  let first: Mismatch | null = null;
  let mismatches = 0;
  let matched = 0;
  const note = (m: Mismatch): void => {
    mismatches += 1;
    if (first === null || m.step < first.step) first = m;
  };

  const loader = await Loader.open(run.loaded, { workers: options.workers });
  let folds = 0;
  try {
    folds = checkSchedule(run, await loader.domainInfo(), note);
    for (let step = 0; step < total; step++) {
      const w = schedule.weights(step);
      const rec = byStep.get(step);
      const batch = await loader.next(w);
      options.onStep?.(step, total);
      if (batch !== null) await options.onBatch?.(step, batch, loader);
      if (rec === undefined) continue; // a step the log lacks (e.g. a crash mid-write): nothing to compare
      let ok = true;
      const recorded = toArray(run.domains, rec.weights);
      const d = same(recorded, w);
      if (d >= 0) {
        ok = false;
        note({ step, what: "weights", detail: `${run.domains[d]}: batch record ${recorded[d]}, schedule ${w[d]}` });
      }
      if (batch === null) {
        note({ step, what: "digest", detail: "the data ran out while rebuilding (the log has this step)" });
        break;
      }
      const digest = batchDigest(batch);
      if (digest !== rec.digest) {
        ok = false;
        const prefixes = (rec as { prefix_digests?: string[] }).prefix_digests;
        let what = "digest";
        if (Array.isArray(prefixes)) {
          const mine = prefixDigests(batch);
          const i = mine.findIndex((p, k) => p !== prefixes[k]);
          if (i >= 0) what = BATCH_ARRAYS[i];
        }
        note({
          step,
          what,
          detail: `recorded ${rec.digest.slice(0, 16)}…, rebuilt ${digest.slice(0, 16)}…${what === "digest" ? " (the log holds one digest over all arrays)" : ""}`,
        });
      }
      if (ok) matched += 1;
      // Once a step differs every later step is built from a different packer state: stop at the first.
      if (first !== null && (first as Mismatch).step <= step) break;
    }
  } finally {
    await loader.close();
  }
  return { ok: mismatches === 0 && matched === total, steps: total, matched, folds_checked: folds, first, mismatches, seconds: (Date.now() - t0) / 1000 };
}

/**
 * Fold the recorded feedback through a fresh mixer from the config and compare each fold's
 * weights with the recorded change at step + lag. Returns the number of folds checked.
 */
function checkSchedule(run: RunDir, info: DomainInfo[], note: (m: Mismatch) => void): number {
  const mixer = createMixer(run.loaded.config.mixer, info);
  if (!mixer.needsFeedback) return 0;
  const lag = run.loaded.config.serve.feedback_lag;
  const schedule = new WeightSchedule(mixer, lag);
  const changes = new Map(run.weights.map((w) => [w.effective_step, toArray(run.domains, w.weights)]));
  let n = 0;
  for (const fb of run.feedback) {
    let entry: ScheduleEntry | null;
    try {
      entry = schedule.fold(feedbackOf(run.domains, fb));
    } catch (e) {
      note({
        step: effectiveStep(fb.step, lag),
        what: "schedule",
        detail: `${mixer.name} rejected the recorded feedback of step ${fb.step}: ${(e as Error).message}`,
      });
      return n;
    }
    if (entry === null) continue;
    const want = changes.get(entry.step);
    if (want === undefined) continue;
    const d = same(want, entry.weights);
    n += 1;
    if (d >= 0) {
      note({
        step: entry.step,
        what: "schedule",
        detail: `${run.domains[d]}: recorded ${want[d]}, ${mixer.name} on the recorded feedback gives ${entry.weights[d]}`,
      });
      return n;
    }
  }
  return n;
}
