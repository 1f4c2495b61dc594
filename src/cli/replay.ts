/**
 * `mixload replay --log RUN_DIR`: offline uses of a recorded run (docs/PROTOCOL.md "Run directory").
 *
 *   --verify            rebuild every step from config + seed + recorded schedule; exit 0 only if all digests match
 *   --serve             serve the recorded run over PROTOCOL v1 with the recorded schedule, ignoring feedback
 *   --mixer NAME        counterfactual weight trajectory of another mixer on the recorded feedback
 */
import fs from "node:fs";
import path from "node:path";
import { Loader } from "../loader/loader.js";
import { MixloadService } from "../serve/service.js";
import { attachDashboard } from "../dashboard/attach.js";
import { untilSignal } from "./lifecycle.js";
import { COUNTERFACTUAL_NOTE, runCounterfactual } from "../replay/counterfactual.js";
import { RecordedSchedule, readRunDir } from "../replay/run-dir.js";
import { ScheduleMixer } from "../replay/schedule-mixer.js";
import { verifyRun, type VerifyResult } from "../replay/verify.js";
import { ConfigError } from "../util/errors.js";

export interface ReplayOptions {
  log: string;
  verify?: boolean;
  serve?: boolean;
  mixer?: string;
  params?: string;
  steps?: number;
  out?: string;
  json?: boolean;
  workers?: number;
  control?: string;
  weights?: string;
  runDir?: string;
  http?: number;
  config?: string;
}

export function formatVerify(r: VerifyResult, runDir: string): string {
  if (r.ok) {
    const folds = r.folds_checked > 0 ? `; ${r.folds_checked} recorded weight changes re-derived from the recorded feedback` : "";
    return `replay --verify ${runDir}: OK — all ${r.matched} steps rebuilt from config + seed + recorded schedule match the logged digests${folds} (${r.seconds.toFixed(1)} s)`;
  }
  const f = r.first;
  return f === null
    ? `replay --verify ${runDir}: FAILED — ${r.matched} of ${r.steps} steps matched`
    : `replay --verify ${runDir}: FAILED at step ${f.step}: ${f.what} differs — ${f.detail} (${r.matched} steps matched before it)`;
}

export async function replayCommand(o: ReplayOptions): Promise<void> {
  const modes = [o.verify, o.serve, o.mixer !== undefined].filter(Boolean).length;
  if (modes !== 1) throw new ConfigError("(cli)", "give exactly one of --verify, --serve, --mixer NAME");
  const run = readRunDir(o.log, { config: o.config });

  if (o.verify) {
    const tty = process.stderr.isTTY === true && !o.json;
    const r = await verifyRun(run, {
      workers: o.workers,
      steps: o.steps,
      onStep: tty
        ? (s, n) => {
            if (s % 10 === 0 || s === n - 1) process.stderr.write(`\r\x1b[2Kreplaying step ${s + 1}/${n}`);
          }
        : undefined,
    });
    if (tty) process.stderr.write("\r\x1b[2K");
    process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : `${formatVerify(r, o.log)}\n`);
    if (!r.ok) process.exitCode = 1;
    return;
  }

  if (o.mixer !== undefined) {
    let params: unknown = undefined;
    if (o.params !== undefined) {
      try {
        params = JSON.parse(o.params);
      } catch (e) {
        throw new ConfigError("--params", `not JSON: ${(e as Error).message}`);
      }
    }
    const loader = await Loader.open(run.loaded, { workers: o.workers ?? 0 });
    let info;
    try {
      info = await loader.domainInfo();
    } finally {
      await loader.close();
    }
    const t = runCounterfactual(run, info, { name: o.mixer, params });
    const out = path.resolve(o.out ?? path.join(run.dir, `counterfactual-${o.mixer}.json`));
    fs.writeFileSync(out, `${JSON.stringify(t, null, 2)}\n`);
    if (o.json) {
      process.stdout.write(`${JSON.stringify(t)}\n`);
      return;
    }
    const last = t.points.at(-1)!;
    const rec = new RecordedSchedule(run);
    const recLast = rec.length > 0 ? rec.weights(rec.length - 1) : [];
    const lines = [
      COUNTERFACTUAL_NOTE,
      `run ${run.dir} (recorded mixer ${t.recorded_mixer}); ${run.feedback.length} feedback steps through ${t.mixer} ${JSON.stringify(t.params)}${t.rejected.length ? `; ${t.rejected.length} steps rejected (first: ${t.rejected[0].reason})` : ""}`,
      `${"domain".padEnd(18)} ${"recorded end".padStart(12)} ${`${t.mixer} end`.padStart(14)}`,
      ...run.domains.map((d, i) => `${d.padEnd(18)} ${(recLast[i] ?? NaN).toFixed(4).padStart(12)} ${last.weights[d].toFixed(4).padStart(14)}`),
      `trajectory (${t.points.length} points, COUNTERFACTUAL) written to ${out}`,
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
    return;
  }

  // --serve: the recorded schedule as a feedback-free mixer; a fresh run dir so the original log is never appended to.
  const schedule = new RecordedSchedule(run);
  const runDir = path.resolve(o.runDir ?? path.join(run.dir, `replay-${new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "")}`));
  const service = await MixloadService.open(run.loaded, {
    runDir,
    workers: o.workers,
    control: o.control,
    weights: o.weights,
    mixer: (domains) => new ScheduleMixer(domains, schedule),
  });
  process.stderr.write(
    `mixload replay --serve: ${schedule.length} recorded steps of ${run.loaded.config.mixer.name} (feedback is accepted and ignored; after step ${schedule.length - 1} the last weights stay) · control ${service.controlEndpoint} · weights ${service.weightsEndpoint} · log ${runDir}\n`,
  );
  const dash = o.http === undefined ? null : await attachDashboard(service, run.loaded, o.http);
  if (dash) process.stderr.write(`mixload replay --serve: dashboard ${dash.url}\n`);
  await untilSignal();
  await dash?.close();
  await service.close();
}
