/**
 * `replay --mixer NAME`: the recorded per-domain feedback, folded in step order through
 * another mixer, and the weight trajectory that mixer would have produced.
 *
 * COUNTERFACTUAL, and only approximately so: had those weights been used, the batches, and
 * so the losses the trainer sent back, would have differed. It answers "how would mixer B
 * have reacted to what mixer A's run saw", not "what would B's run have done".
 */
import { effectiveStep, WeightSchedule, type ScheduleEntry } from "../schedule/weight-schedule.js";
import type { DomainFeedback, DomainInfo, Mixer, StepFeedback } from "../../mixers/contract.js";
import { createMixer } from "../../mixers/registry.js";
import type { FeedbackRecord, RunDir } from "./run-dir.js";

const FIELDS = ["loss_sum", "tokens", "excess_loss_sum", "ref_loss_sum", "grad_alignment", "eval_loss"] as const;

/** A feedback log line → the mixer's StepFeedback (domain names → indices). */
export function feedbackOf(domains: readonly string[], fb: FeedbackRecord): StepFeedback {
  const map = new Map<number, DomainFeedback>();
  domains.forEach((name, i) => {
    const d = fb.domains[name];
    if (d === undefined) return;
    const out: DomainFeedback = { loss_sum: d.loss_sum, tokens: d.tokens };
    for (const f of FIELDS) if (d[f] !== undefined) (out as unknown as Record<string, number>)[f] = d[f];
    map.set(i, out);
  });
  return fb.lr === undefined ? { step: fb.step, domains: map } : { step: fb.step, domains: map, lr: fb.lr };
}

export interface Trajectory {
  /** Always true: read the note. */
  counterfactual: true;
  note: string;
  run: string;
  recorded_mixer: string;
  mixer: string;
  params: Record<string, unknown>;
  feedback_lag: number;
  domains: string[];
  /** Weights in force from `step` on, after folding the feedback of step − lag (plus the start). */
  points: { step: number; weights: Record<string, number> }[];
  /** The mixer's describe() after the last fold. */
  describe: Record<string, unknown>;
  /** Folds the mixer rejected (e.g. doremi without excess/reference signals): step and reason. */
  rejected: { step: number; reason: string }[];
}

export const COUNTERFACTUAL_NOTE =
  "COUNTERFACTUAL: the recorded feedback (from the run's own batches) folded through another mixer. " +
  "Had these weights been used, the batches and therefore the feedback would have differed.";

export function runCounterfactual(run: RunDir, info: DomainInfo[], spec: { name: string; params?: unknown }): Trajectory {
  const mixer: Mixer = createMixer(spec, info);
  const lag = run.loaded.config.serve.feedback_lag;
  const named = (w: ArrayLike<number>): Record<string, number> => Object.fromEntries(run.domains.map((d, i) => [d, w[i]]));
  const schedule = new WeightSchedule(mixer, lag);
  const points: Trajectory["points"] = [{ step: 0, weights: named(schedule.initial.weights) }];
  const rejected: Trajectory["rejected"] = [];
  for (const fb of run.feedback) {
    let entry: ScheduleEntry | null;
    try {
      entry = schedule.fold(feedbackOf(run.domains, fb));
    } catch (e) {
      rejected.push({ step: fb.step, reason: (e as Error).message });
      continue;
    }
    // A static mixer's weights are a function of the step alone: sample them where a fold would pin them.
    const step = entry?.step ?? effectiveStep(fb.step, lag);
    points.push({ step, weights: named(entry?.weights ?? mixer.weights(step)) });
  }
  return {
    counterfactual: true,
    note: COUNTERFACTUAL_NOTE,
    run: run.dir,
    recorded_mixer: run.loaded.config.mixer.name,
    mixer: mixer.name,
    params: (spec.params ?? {}) as Record<string, unknown>,
    feedback_lag: lag,
    domains: [...run.domains],
    points,
    describe: mixer.describe(),
    rejected,
  };
}
