/**
 * `mixload serve`: run the loader service until SIGINT/SIGTERM (docs/PROTOCOL.md).
 * Progress goes to stderr: a status line redrawn in place on a terminal, else one line per
 * report; `--json` for JSON lines.
 */
import { loadConfig } from "../config/load.js";
import { MixloadService, type ProgressEvent } from "../serve/service.js";
import { missingServiceFlags } from "./node-flags.js";
import { untilSignal } from "./lifecycle.js";

export interface ServeOptions {
  config: string;
  resume?: string;
  runDir?: string;
  json?: boolean;
  workers?: number;
  control?: string;
  weights?: string;
  insecure?: boolean;
  /** Live dashboard + /metrics on http://127.0.0.1:PORT (0: a free port). */
  http?: number;
}

function formatWeights(w: Record<string, number>): string {
  return Object.entries(w)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 6)
    .map(([name, x]) => `${name} ${x.toFixed(3)}`)
    .join(" ");
}

function reporter(json: boolean): (e: ProgressEvent) => void {
  const tty = !json && process.stderr.isTTY === true;
  return (e) => {
    if (json) {
      process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), ...e })}\n`);
      return;
    }
    const line =
      e.event === "warning" || e.event === "stop"
        ? `mixload serve: ${e.message ?? e.event}`
        : `step ${e.steps_served} (built ${e.built_step}) · ${(e.tokens_served / 1e6).toFixed(2)}M tokens · ${Math.round(e.tokens_per_s).toLocaleString("en")} tok/s · v${e.weights_version} ${formatWeights(e.weights)}`;
    if (tty && e.event === "progress") process.stderr.write(`\r\x1b[2K${line}`);
    else process.stderr.write(`${tty ? "\r\x1b[2K" : ""}${line}\n`);
  };
}

export async function serveCommand(options: ServeOptions): Promise<void> {
  const loaded = loadConfig(options.config);
  const report = reporter(options.json === true);
  const service = await MixloadService.open(
    loaded,
    {
      resume: options.resume,
      runDir: options.runDir,
      workers: options.workers,
      control: options.control,
      weights: options.weights,
      insecure: options.insecure,
    },
    report,
  );
  const missing = missingServiceFlags();
  const info = {
    event: "listening",
    run_id: service.runId,
    control: service.controlEndpoint,
    weights: service.weightsEndpoint,
    run_dir: service.runDir,
    ...(missing.length > 0 ? { node_flags_missing: missing } : {}),
  };
  process.stderr.write(
    options.json
      ? `${JSON.stringify(info)}\n`
      : `mixload serve: run ${info.run_id} · control ${info.control} · weights ${info.weights} · run dir ${info.run_dir}\n`,
  );
  if (!options.json && missing.length > 0) {
    process.stderr.write(
      `mixload serve: tip: start node with ${missing.join(" ")} (node ${missing.join(" ")} dist/src/cli/main.js serve …) for a shorter reply-latency tail; see the README's Benchmarks\n`,
    );
  }
  let dash = null;
  try {
    dash = options.http === undefined ? null : await (await import("../dashboard/attach.js")).attachDashboard(service, loaded, options.http);
  } catch (e) {
    await service.close({ writeState: false });
    throw new Error(`--http ${options.http}: cannot start the dashboard: ${(e as Error).message}`);
  }
  if (dash)
    process.stderr.write(
      options.json
        ? `${JSON.stringify({ event: "dashboard", url: dash.url, metrics: `${dash.url}metrics` })}\n`
        : `mixload serve: dashboard ${dash.url} · metrics ${dash.url}metrics\n`,
    );
  await untilSignal();
  await dash?.close();
  await service.close();
}
