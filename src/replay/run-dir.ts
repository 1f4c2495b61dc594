/**
 * Reading a run directory (docs/PROTOCOL.md "Run directory"): the resolved config and the
 * schedule log, deduplicated the way the spec says (after `--resume` a line may appear again;
 * the last line per (type, step) wins), and the recorded weight schedule as a function of step.
 *
 * A batch is a pure function of (config, seed, the weights of every step so far), so this is
 * everything replay needs: no trainer, no feedback beyond what the log holds.
 */
import fs from "node:fs";
import path from "node:path";
import { parseConfig, type LoadedConfig } from "../config/load.js";
import type { DomainMap } from "../protocol/types.js";
import type { ScheduleRecord } from "../serve/run-log.js";
import { ConfigError } from "../util/errors.js";

export type WeightsRecord = Extract<ScheduleRecord, { type: "weights" }> & { t?: number };
export type FeedbackRecord = Extract<ScheduleRecord, { type: "feedback" }> & { t?: number };
export type BatchRecord = Extract<ScheduleRecord, { type: "batch" }> & { t?: number };

export interface RunDir {
  readonly dir: string;
  readonly loaded: LoadedConfig;
  readonly domains: readonly string[];
  /** Weight changes by effective step, ascending. */
  readonly weights: readonly WeightsRecord[];
  /** Folded feedback aggregates by step, ascending. */
  readonly feedback: readonly FeedbackRecord[];
  /** Built steps by step, ascending (0, 1, 2, … in a complete log). */
  readonly batches: readonly BatchRecord[];
  /** 1-based line of each record in schedule.jsonl, for messages ("line 17"). */
  readonly lineOf: ReadonlyMap<object, number>;
}

/** The run's metadata file written beside config.json (base_dir resolves the config's relative paths). */
export interface RunMeta {
  v: 1;
  base_dir: string;
  config_file?: string;
}

export class RunDirError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RunDirError";
  }
}

/**
 * Open `dir`. The config's relative source paths resolve against `run.json`'s base_dir when
 * the service wrote one, else against `configBase` (default: the run directory itself).
 */
export function readRunDir(dir: string, options: { config?: string } = {}): RunDir {
  const abs = path.resolve(dir);
  const scheduleFile = path.join(abs, "schedule.jsonl");
  if (!fs.existsSync(scheduleFile)) throw new RunDirError(`${dir}: no schedule.jsonl (is this a run directory written by \`mixload serve\`?)`);
  const loaded =
    options.config !== undefined
      ? loadConfigFile(options.config, path.dirname(path.resolve(options.config)))
      : loadConfigFile(path.join(abs, "config.json"), baseDirOf(abs));
  const domains = loaded.config.domains.map((d) => d.name);

  const weights = new Map<number, WeightsRecord>();
  const feedback = new Map<number, FeedbackRecord>();
  const batches = new Map<number, BatchRecord>();
  const lineOf = new Map<object, number>();
  const lines = fs.readFileSync(scheduleFile, "utf8").split("\n");
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    let r: ScheduleRecord;
    try {
      r = JSON.parse(line) as ScheduleRecord;
    } catch (e) {
      // A crash can leave the last line half written; anything earlier is corruption.
      if (i >= lines.length - 2) return;
      throw new RunDirError(`${scheduleFile}:${i + 1}: not JSON: ${(e as Error).message}`);
    }
    lineOf.set(r, i + 1);
    if (r.type === "weights") weights.set(r.effective_step, r);
    else if (r.type === "feedback") feedback.set(r.step, r);
    else if (r.type === "batch") batches.set(r.step, r);
  });
  const sorted = <T>(m: Map<number, T>): T[] => [...m.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v);
  return { dir: abs, loaded, domains, weights: sorted(weights), feedback: sorted(feedback), batches: sorted(batches), lineOf };
}

function baseDirOf(dir: string): string {
  const meta = path.join(dir, "run.json");
  if (!fs.existsSync(meta)) return dir;
  const m = JSON.parse(fs.readFileSync(meta, "utf8")) as Partial<RunMeta>;
  return typeof m.base_dir === "string" ? m.base_dir : dir;
}

function loadConfigFile(file: string, baseDir: string): LoadedConfig {
  let value: unknown;
  try {
    value = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new ConfigError("(file)", `cannot read ${file}: ${(e as Error).message}`);
  }
  return { ...parseConfig(value, baseDir, file), file };
}

/** Weights as an array in domain order (0 for a name the map lacks). */
export function toArray(domains: readonly string[], w: DomainMap<number>): number[] {
  return domains.map((d) => w[d] ?? 0);
}

/**
 * The recorded weight schedule: the weights of step s are those of the last change whose
 * effective_step ≤ s (dynamic mixers change at every fold, static ones when the blend moves).
 * Steps the weights records do not reach fall back to the batch record's weights.
 */
export class RecordedSchedule {
  private readonly steps: number[];
  private readonly values: number[][];
  private readonly fromBatches: Map<number, number[]>;

  constructor(readonly run: RunDir) {
    this.steps = run.weights.map((w) => w.effective_step);
    this.values = run.weights.map((w) => toArray(run.domains, w.weights));
    this.fromBatches = new Map(run.batches.map((b) => [b.step, toArray(run.domains, b.weights)]));
  }

  /** The step count the log covers (one past the last built step). */
  get length(): number {
    const last = this.run.batches.at(-1);
    return last === undefined ? 0 : last.step + 1;
  }

  weights(step: number): number[] {
    // binary search: last effective_step ≤ step
    let lo = 0,
      hi = this.steps.length - 1,
      found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.steps[mid] <= step) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found >= 0) return this.values[found];
    const b = this.fromBatches.get(step);
    if (b !== undefined) return b;
    throw new RunDirError(`${this.run.dir}: the log has no weights for step ${step}`);
  }
}
