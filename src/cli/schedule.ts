/**
 * `mixload schedule export --log RUN_DIR --as static|phases [--phases N] [--retime STEPS]`:
 * a recorded schedule → a `static` mixer config fragment (replay/export.ts), on stdout or --out.
 */
import fs from "node:fs";
import { exportSchedule } from "../replay/export.js";
import { readRunDir } from "../replay/run-dir.js";
import { ConfigError } from "../util/errors.js";

export interface ScheduleExportOptions {
  log: string;
  as: string;
  phases?: number;
  retime?: number;
  out?: string;
  config?: string;
}

export async function scheduleExportCommand(o: ScheduleExportOptions): Promise<void> {
  if (o.as !== "static" && o.as !== "phases") throw new ConfigError("--as", `expected static or phases, got ${JSON.stringify(o.as)}`);
  const run = readRunDir(o.log, { config: o.config });
  const r = exportSchedule(run, { as: o.as, phases: o.phases, retime: o.retime });
  const text = `${JSON.stringify(r.fragment, null, 2)}\n`;
  if (o.out !== undefined) fs.writeFileSync(o.out, text);
  else process.stdout.write(text);
  process.stderr.write(`mixload schedule export: ${r.summary}${o.out !== undefined ? ` → ${o.out}` : ""}\n`);
}
