/**
 * The run directory: `config.json` (the resolved config, written once at start) and
 * `schedule.jsonl`, the append-only record the replay tool reads: every weight change, every
 * folded feedback aggregate, every built step's digest (docs/PROTOCOL.md "Run directory").
 * Lines are written synchronously as they happen (they are small and rare next to a batch);
 * close() fsyncs so a clean shutdown never loses the tail.
 *
 * A write that fails (disk full, folder gone) never throws into the service: serving state
 * lives in memory and the state blob, not here. The first failure is reported once through
 * `onError` naming the file, the step and the cause; later lines are counted, not written,
 * so the file holds a clean prefix (never a half line followed by more lines).
 */
import fs from "node:fs";
import path from "node:path";
import { writeFileAtomic } from "../util/atomic-file.js";
import { ConfigError } from "../util/errors.js";
import type { DomainMap } from "../protocol/types.js";

export type ScheduleRecord =
  | { v: 1; type: "weights"; version: number; effective_step: number; weights: DomainMap<number>; mixer: string }
  | { v: 1; type: "feedback"; step: number; domains: DomainMap<Record<string, number>>; lr?: number }
  | { v: 1; type: "batch"; step: number; version: number; weights: DomainMap<number>; digest: string };

export class RunLog {
  private fd: number | null;
  readonly schedulePath: string;
  /** Lines not written since the first failure (0 while healthy). */
  dropped = 0;
  /** Bytes in the file: where a failed write is cut back to. */
  private size = 0;
  /** JSON text of weight maps, per map object (the service shares one map per weights version). */
  private readonly weightsJson = new WeakMap<DomainMap<number>, string>();

  constructor(
    readonly dir: string,
    private readonly onError: (message: string) => void = () => {},
  ) {
    this.schedulePath = path.join(dir, "schedule.jsonl");
    try {
      fs.mkdirSync(dir, { recursive: true });
      this.fd = fs.openSync(this.schedulePath, "a");
      this.size = fs.fstatSync(this.fd).size;
      this.dropTornLine();
    } catch (e) {
      throw new ConfigError("serve.run_dir", `the run directory ${dir} is not writable: ${(e as Error).message} (give --run-dir a writable folder)`);
    }
  }

  /**
   * A crash in the middle of a write (power loss; a SIGKILL cannot split one write) can leave
   * a half line at the end. Appending after it would glue the next line on, and replay would
   * reject the file as corrupt there; so cut it back to the last newline, and say so.
   */
  private dropTornLine(): void {
    if (this.size === 0) return;
    const tailSize = Math.min(this.size, 1 << 16);
    const tail = Buffer.alloc(tailSize);
    const fd = fs.openSync(this.schedulePath, "r");
    try {
      fs.readSync(fd, tail, 0, tailSize, this.size - tailSize);
    } finally {
      fs.closeSync(fd);
    }
    if (tail[tailSize - 1] === 0x0a) return;
    const newline = tail.lastIndexOf(0x0a);
    // A torn line longer than the tail read is not a torn line of ours: leave the file alone.
    if (newline < 0 && tailSize < this.size) return;
    const keep = this.size - tailSize + newline + 1;
    fs.ftruncateSync(this.fd!, keep);
    this.onError(`run log: ${this.schedulePath} ended in a half-written line (${this.size - keep} bytes, from a crash); dropped it before appending`);
    this.size = keep;
  }

  /**
   * `config.json`, and with `meta` also `run.json` (`{v: 1, base_dir, config_file?}`): the
   * folder the config's relative source paths resolve against, so replay can reopen the data.
   */
  writeConfig(config: unknown, meta?: { base_dir: string; config_file?: string }): void {
    try {
      writeFileAtomic(path.join(this.dir, "config.json"), `${JSON.stringify(config, null, 2)}\n`);
      if (meta !== undefined) writeFileAtomic(path.join(this.dir, "run.json"), `${JSON.stringify({ v: 1, ...meta }, null, 2)}\n`);
    } catch (e) {
      throw new ConfigError("serve.run_dir", `cannot write ${path.join(this.dir, "config.json")}: ${(e as Error).message}`);
    }
  }

  append(record: ScheduleRecord): void {
    if (this.fd === null) return;
    if (this.dropped > 0) {
      this.dropped += 1;
      return;
    }
    const line = Buffer.from(this.line(record));
    try {
      let at = 0;
      while (at < line.length) at += fs.writeSync(this.fd, line, at);
      this.size += line.length;
    } catch (e) {
      // Cut a partial line back off so readers see whole lines only.
      try {
        fs.ftruncateSync(this.fd, this.size);
      } catch {
        // nothing more to do: the reader drops an unterminated last line
      }
      this.dropped = 1;
      const at = "step" in record ? ` at step ${record.step}` : ` at weights version ${record.version}`;
      this.onError(
        `run log: cannot write ${this.schedulePath}${at}: ${(e as Error).message}; serving continues, but schedule.jsonl stops here (replay will miss later lines)`,
      );
    }
  }

  /**
   * One JSON line; `t` is the wall-clock ms when it was written (reports derive throughput from
   * it). A `batch` line is written every step: its weights text comes from the cache, and the
   * line is exactly what JSON.stringify would write (same keys, same order).
   */
  private line(record: ScheduleRecord): string {
    const t = Date.now();
    if (record.type !== "batch") return `${JSON.stringify({ ...record, t })}\n`;
    let weights = this.weightsJson.get(record.weights);
    if (weights === undefined) {
      weights = JSON.stringify(record.weights);
      this.weightsJson.set(record.weights, weights);
    }
    return `{"v":1,"type":"batch","step":${JSON.stringify(record.step)},"version":${JSON.stringify(record.version)},"weights":${weights},"digest":${JSON.stringify(record.digest)},"t":${t}}\n`;
  }

  close(): void {
    if (this.fd === null) return;
    try {
      fs.fsyncSync(this.fd);
    } catch {
      // a failing disk was reported by append(); closing must still release the descriptor
    } finally {
      fs.closeSync(this.fd);
      this.fd = null;
    }
  }
}
