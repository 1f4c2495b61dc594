/**
 * The weight schedule, and the feedback-lag rule written once (docs/PROTOCOL.md, "Feedback"):
 *
 *   the feedback of step s, once every rank has sent it, is folded into the mixer, and the
 *   weights the mixer then gives for step s + lag are in force from step s + lag on;
 *   steps below lag use the mixer's weights before any feedback (its step-0 weights).
 *
 * So the weights of step t depend only on the feedback of steps ≤ t − lag, which is what makes a
 * run's batches a pure function of (config, seed, recorded feedback): the service builds step t
 * once `at(t)` is known, and the gym, `replay --verify` and the counterfactual replay fold the
 * same way through this class rather than each restating the rule.
 *
 * Mixers that do not need feedback (static blends, phases) are not scheduled here: their weights
 * are a function of the step alone (`mixer.weights(t)`), and `weightsFor` says so.
 */
import type { Mixer, StepFeedback } from "../../mixers/contract.js";

/** Weights in force from `step` on, and their version (bumped by every fold). */
export interface ScheduleEntry {
  step: number;
  version: number;
  weights: number[];
}

/** The first step whose weights the feedback of step `feedbackStep` decides. */
export function effectiveStep(feedbackStep: number, lag: number): number {
  return feedbackStep + lag;
}

/** The feedback step the weights of `step` wait for (negative: none, the initial weights apply). */
export function decidingStep(step: number, lag: number): number {
  return step - lag;
}

/** What a schedule saves in resume state (the layout `ServeState.schedule` has always had). */
export interface ScheduleSnapshot {
  initial: ScheduleEntry;
  entries: ScheduleEntry[];
  version: number;
}

export class WeightSchedule {
  private readonly initialEntry: ScheduleEntry;
  private readonly entries = new Map<number, ScheduleEntry>();
  private currentVersion: number;

  constructor(
    private readonly mixer: Mixer,
    readonly lag: number,
    saved?: ScheduleSnapshot,
  ) {
    if (!Number.isInteger(lag) || lag < 1) throw new RangeError(`feedback lag must be an integer ≥ 1, got ${lag}`);
    if (saved) {
      this.initialEntry = saved.initial;
      for (const e of saved.entries) this.entries.set(e.step, e);
      this.currentVersion = saved.version;
    } else {
      this.initialEntry = { step: 0, version: 0, weights: Array.from(mixer.weights(0)) };
      this.currentVersion = 0;
    }
  }

  /** Whether weights come from folds (dynamic mixers) or from the step alone (static ones). */
  get dynamic(): boolean {
    return this.mixer.needsFeedback;
  }

  get initial(): ScheduleEntry {
    return this.initialEntry;
  }

  get version(): number {
    return this.currentVersion;
  }

  /** A dynamic mixer's weights for `step`, or undefined while the feedback of step − lag is not folded. */
  at(step: number): ScheduleEntry | undefined {
    return decidingStep(step, this.lag) < 0 ? this.initialEntry : this.entries.get(step);
  }

  /** The weights to build `step` with, for either kind of mixer; throws if a dynamic step is not decided yet. */
  weightsFor(step: number): ArrayLike<number> {
    if (!this.dynamic) return this.mixer.weights(step);
    const e = this.at(step);
    if (e === undefined) throw new Error(`the weights of step ${step} wait for the feedback of step ${decidingStep(step, this.lag)}, not folded yet`);
    return e.weights;
  }

  /**
   * Fold one step's aggregated feedback (steps in order, each once). A dynamic mixer's new
   * weights are pinned to step + lag and returned; static mixers return null. A mixer that
   * rejects the feedback throws with its state untouched (mixers/types.ts), and so does this.
   */
  fold(feedback: StepFeedback): ScheduleEntry | null {
    this.mixer.update(feedback);
    if (!this.dynamic) return null;
    const step = effectiveStep(feedback.step, this.lag);
    this.currentVersion += 1;
    const e: ScheduleEntry = { step, version: this.currentVersion, weights: Array.from(this.mixer.weights(step)) };
    this.entries.set(step, e);
    return e;
  }

  /**
   * A follower's side of the rule (node services): an entry folded elsewhere — by the leader's
   * schedule, whose `fold` pinned it to its effective step — taken as is. Returns false when the
   * step already had it (a re-announcement); an entry that differs from the one held is refused,
   * since a step's weights never change once decided.
   */
  adopt(e: ScheduleEntry): boolean {
    const had = this.entries.get(e.step);
    if (had !== undefined) {
      if (had.version !== e.version || had.weights.some((w, i) => w !== e.weights[i]))
        throw new Error(`step ${e.step} already has weights version ${had.version}; version ${e.version} differs (two leaders for one run?)`);
      return false;
    }
    this.entries.set(e.step, { step: e.step, version: e.version, weights: Array.from(e.weights) });
    if (e.version > this.currentVersion) this.currentVersion = e.version;
    return true;
  }

  /** Drop entries for steps below `step` (they left the window). */
  forget(step: number): void {
    for (const k of this.entries.keys()) if (k < step) this.entries.delete(k);
  }

  /** The entries from `step` on, in step order, for resume state. */
  snapshot(step: number): ScheduleSnapshot {
    const entries = [...this.entries.values()].filter((e) => e.step >= step).sort((a, b) => a.step - b.step);
    return { initial: this.initialEntry, entries, version: this.currentVersion };
  }
}
