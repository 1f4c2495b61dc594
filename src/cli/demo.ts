/**
 * `npm start` (`mixload demo`): the whole system on the bundled Brown corpus, in one process
 * over real ZeroMQ sockets on loopback (free ports):
 *
 *   1. a reference learner trains on the natural mix (DoReMi's reference model);
 *   2. the service runs brown-small.json with `doremi`, its loader in a worker thread, and the
 *      live dashboard on a free loopback port;
 *   3. the built-in trainer (the gym's online Kneser–Ney learner, demo/trainer.ts) pulls
 *      batches and sends per-domain loss, tokens and excess loss back for N steps;
 *   4. a per-domain table (weights start → end, loss), the HTML report, and
 *   5. `replay --verify` of the run: every batch rebuilt from config + seed + the recorded
 *      schedule, digest for digest.
 */
import path from "node:path";
import { loadConfig } from "../config/load.js";
import { MixloadService } from "../serve/service.js";
import { attachDashboard } from "../dashboard/attach.js";
import { trainAgainst, trainReference } from "../demo/trainer.js";
import { readRunDir } from "../replay/run-dir.js";
import { buildReport, rebuildWithPacking } from "../report/report.js";
import { formatVerify } from "./replay.js";

export interface DemoOptions {
  config: string;
  steps: number;
  refSteps: number;
  runDir?: string;
  http?: number;
  workers?: number;
}

class Progress {
  private readonly tty = process.stderr.isTTY === true;
  private next = 25;
  constructor(
    private readonly label: string,
    private readonly total: number,
  ) {}
  update(done: number, extra = ""): void {
    const pct = Math.floor((100 * done) / this.total);
    if (this.tty) {
      const width = 28;
      const n = Math.round((width * done) / this.total);
      process.stderr.write(`\r\x1b[2K${this.label.padEnd(10)} [${"█".repeat(n)}${"·".repeat(width - n)}] ${String(done).padStart(4)}/${this.total} ${extra}`);
    } else if (pct >= this.next || done === this.total) {
      this.next = (Math.floor(pct / 25) + 1) * 25;
      process.stderr.write(`${this.label}: ${done}/${this.total} ${extra}\n`);
    }
  }
  done(): void {
    if (this.tty) process.stderr.write("\n");
  }
}

const fmt = (x: number, d: number): string => (Number.isFinite(x) ? x.toFixed(d) : "–");

export async function demoCommand(o: DemoOptions): Promise<void> {
  const t0 = Date.now();
  const loaded = loadConfig(o.config);
  const c = loaded.config;
  const runDir = path.resolve(o.runDir ?? path.join("runs", `demo-${new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "")}`));
  const out = (s: string): boolean => process.stdout.write(`${s}\n`);
  out(
    `mixload demo: ${c.domains.length} Brown genres as domains · ${c.seq_len}-token rows × ${c.world * c.batch_size} per step · mixer ${c.mixer.name} · ${o.steps} steps`,
  );

  // 1. reference learner on the natural mix
  const refBar = new Progress("reference", o.refSteps);
  const reference = await trainReference(loaded, o.refSteps, { workers: o.workers, onStep: (s) => refBar.update(s + 1, "(natural mix, seed + 1)") });
  refBar.done();

  // 2. service + dashboard on free loopback ports
  const service = await MixloadService.open(loaded, { runDir, workers: o.workers, control: "tcp://127.0.0.1:*", weights: "tcp://127.0.0.1:*" });
  let dash = null;
  try {
    dash = await attachDashboard(service, loaded, o.http ?? 0);
    out(
      `service: control ${service.controlEndpoint} · weights ${service.weightsEndpoint} · live dashboard ${dash.url} (metrics ${dash.url}metrics) while it runs`,
    );

    // 3. the trainer
    const bar = new Progress("training", o.steps);
    let tokens = 0;
    const tStart = Date.now();
    await trainAgainst({
      endpoint: service.controlEndpoint,
      steps: o.steps,
      reference,
      onStep: (r) => {
        tokens += r.tokens;
        const rate = tokens / Math.max(1e-3, (Date.now() - tStart) / 1000);
        bar.update(r.step + 1, `loss ${fmt(r.loss, 3)} · ${Math.round(rate).toLocaleString("en")} tok/s`);
      },
    });
    bar.done();
  } finally {
    await dash?.close();
    await service.close();
  }

  // 4. replay --verify (its rebuild also gives the report its packing figures)
  const rebuilt = await rebuildWithPacking(readRunDir(runDir), o.workers);

  // 5. table + report
  const report = await buildReport(runDir, { workers: o.workers, rebuilt });
  const rows = report.data.summary;
  out("");
  out(`${"domain".padEnd(16)} ${"weight start → end".padStart(19)}  ${"mean".padStart(6)}  ${"achieved".padStart(8)}  ${"loss first → last 10%".padStart(22)}`);
  for (const r of [...rows].sort((a, b) => b.w_end - a.w_end)) {
    const arrow = r.w_end > r.w_start * 1.05 ? "↑" : r.w_end < r.w_start * 0.95 ? "↓" : " ";
    out(
      `${r.name.padEnd(16)} ${`${fmt(r.w_start, 4)} → ${fmt(r.w_end, 4)} ${arrow}`.padStart(19)}  ${fmt(r.w_mean, 4).padStart(6)}  ${fmt(r.achieved, 4).padStart(8)}  ${`${fmt(r.loss_start, 3)} → ${fmt(r.loss_end, 3)}`.padStart(22)}`,
    );
  }
  const rel = path.relative(process.cwd(), runDir) || runDir;
  out("");
  out(`report: ${report.html}`);
  out(`        (open it in a browser; charts also as SVG${report.pngs.length ? " and PNG" : ""} in ${path.dirname(report.svgs[0])})`);
  out(`run directory: ${rel} (config.json, schedule.jsonl, state.bin)`);
  out(formatVerify(rebuilt.verify, rel));
  out(
    `done in ${((Date.now() - t0) / 1000).toFixed(1)} s · next: npx mixload replay --log ${rel} --mixer odm · npx mixload schedule export --log ${rel} --as static`,
  );
  if (!rebuilt.verify.ok) process.exitCode = 1;
}
