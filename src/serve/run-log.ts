/**
 * The run directory: `config.json` (the resolved config, written once at start) and
 * `schedule.jsonl`, the append-only record the replay tool reads: every weight change, every
 * folded feedback aggregate, every built step's digest (docs/PROTOCOL.md "Run directory").
 * Lines are written synchronously as they happen (they are small and rare next to a batch);
 * close() fsyncs so a clean shutdown never loses the tail.
 */
import fs from "node:fs";
import path from "node:path";
import { writeFileAtomic } from "../util/atomic-file.js";
import type { DomainMap } from "../protocol/types.js";

export type ScheduleRecord =
  | { v: 1; type: "weights"; version: number; effective_step: number; weights: DomainMap<number>; mixer: string }
  | { v: 1; type: "feedback"; step: number; domains: DomainMap<Record<string, number>>; lr?: number }
  | { v: 1; type: "batch"; step: number; version: number; weights: DomainMap<number>; digest: string };

export class RunLog {
  private fd: number | null;
  readonly schedulePath: string;

  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
    this.schedulePath = path.join(dir, "schedule.jsonl");
    this.fd = fs.openSync(this.schedulePath, "a");
  }

  writeConfig(config: unknown): void {
    writeFileAtomic(path.join(this.dir, "config.json"), `${JSON.stringify(config, null, 2)}\n`);
  }

  append(record: ScheduleRecord): void {
    if (this.fd === null) return;
    fs.writeSync(this.fd, `${JSON.stringify(record)}\n`);
  }

  close(): void {
    if (this.fd === null) return;
    try {
      fs.fsyncSync(this.fd);
    } finally {
      fs.closeSync(this.fd);
      this.fd = null;
    }
  }
}
