/**
 * `schedule export`: a recorded (dynamic) schedule → a `static` mixer config fragment.
 *
 * - `static`: one blend. For a dynamic mixer it is the mean of the weights over the mixer's
 *   updates (the recorded weight changes after the start), as DoReMi exports ᾱ, the average
 *   of α over training, for the large model's run (Xie et al. 2023, §2, step 3). For a static
 *   run it is the mean over steps.
 * - `phases`: N phases of (nearly) equal length over the recorded steps, each the mean of the
 *   per-step weights inside it; `retime` stretches the phase boundaries to a run of that many
 *   steps (DoReMi's proxy runs are much shorter than the run that uses their weights).
 */
import { RecordedSchedule, toArray, type RunDir } from "./run-dir.js";

export interface ExportOptions {
  as: "static" | "phases";
  phases?: number;
  retime?: number;
}

export interface ExportResult {
  fragment: { mixer: { name: "static"; params: Record<string, unknown> } };
  /** What it was made from, for a line on stderr. */
  summary: string;
}

const round = (x: number): number => Math.round(x * 1e6) / 1e6;

function named(domains: readonly string[], w: readonly number[]): Record<string, number> {
  return Object.fromEntries(domains.map((d, i) => [d, round(w[i])]));
}

function mean(rows: readonly (readonly number[])[], k: number): number[] {
  const out = new Array<number>(k).fill(0);
  for (const r of rows) for (let i = 0; i < k; i++) out[i] += r[i] / rows.length;
  return out;
}

export function exportSchedule(run: RunDir, options: ExportOptions): ExportResult {
  const schedule = new RecordedSchedule(run);
  const T = schedule.length;
  const K = run.domains.length;
  if (T === 0) throw new Error(`${run.dir}: the log has no built steps`);
  const perStep = Array.from({ length: T }, (_, s) => schedule.weights(s));
  const mixer = run.loaded.config.mixer.name;

  if (options.as === "static") {
    const updates = run.weights.filter((w) => w.version > 0 && w.effective_step < T + run.loaded.config.serve.feedback_lag);
    const dynamic = run.feedback.length > 0 && updates.length > 0;
    const w = dynamic
      ? mean(
          updates.map((u) => toArray(run.domains, u.weights)),
          K,
        )
      : mean(perStep, K);
    return {
      fragment: { mixer: { name: "static", params: { weights: named(run.domains, w) } } },
      summary: dynamic
        ? `static blend: mean of ${updates.length} ${mixer} weight updates (DoReMi-style average) over ${T} steps`
        : `static blend: mean weights over ${T} steps`,
    };
  }

  const n = options.phases ?? 2;
  if (!Number.isInteger(n) || n < 1) throw new Error(`--phases must be a positive integer, got ${n}`);
  if (n > T) throw new Error(`--phases ${n}: the log has only ${T} steps`);
  const target = options.retime ?? T;
  if (!Number.isInteger(target) || target < n) throw new Error(`--retime must be an integer ≥ the number of phases (${n}), got ${target}`);
  const cuts = Array.from({ length: n + 1 }, (_, k) => Math.round((k * T) / n));
  const phases: Record<string, unknown>[] = [];
  let prevEnd = 0;
  for (let k = 0; k < n; k++) {
    const w = mean(perStep.slice(cuts[k], cuts[k + 1]), K);
    const phase: Record<string, unknown> = {};
    if (k < n - 1) {
      const end = Math.max(prevEnd + 1, Math.round((cuts[k + 1] * target) / T));
      phase.until_step = end;
      prevEnd = end;
    }
    phase.weights = named(run.domains, w);
    phases.push(phase);
  }
  return {
    fragment: { mixer: { name: "static", params: { phases } } },
    summary: `${n} phases from ${T} recorded steps of ${mixer}${options.retime !== undefined ? `, retimed to ${target} steps` : ""}`,
  };
}
