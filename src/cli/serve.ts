/**
 * `mixload serve`: run the loader service until SIGINT/SIGTERM (docs/PROTOCOL.md).
 * Progress goes to stderr: a status line redrawn in place on a terminal, else one line per
 * report; `--json` for JSON lines.
 */
import path from "node:path";
import { loadConfig } from "../config/load.js";
import { globFiles } from "../sources/glob.js";
import { ConfigError } from "../util/errors.js";
import { MixloadService, type ProgressEvent } from "../serve/service.js";
import { missingServiceFlags } from "./node-flags.js";
import { untilSignal } from "./lifecycle.js";

export interface ServeOptions {
  config: string;
  /** One blob, or (node services, docs/scale-out.md) several nodes' blobs whose lanes are merged; a glob pattern is expanded. */
  resume?: string | string[];
  /** Node service: this node's index, the node count, and the leader's control endpoint (all three or none). */
  node?: number;
  nodes?: number;
  leader?: string;
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
  const node = nodeOption(options);
  const service = await MixloadService.open(
    loaded,
    {
      resume: resumeFiles(options.resume),
      ...(node !== undefined ? { node } : {}),
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
    ...(service.layout !== null ? { node: service.layout.index, nodes: service.layout.count, ranks: service.layout.ranks, lanes: service.layout.lanes } : {}),
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

/** `--node I --nodes N --leader E` as the service's node option; all three or none, in one line. */
function nodeOption(o: ServeOptions): { index: number; count: number; leader: string } | undefined {
  const given = [o.node !== undefined, o.nodes !== undefined, o.leader !== undefined];
  if (given.every((g) => !g)) return undefined;
  if (!given.every((g) => g)) throw new ConfigError("(flags)", "a node service needs all of --node I --nodes N --leader ENDPOINT");
  return { index: o.node!, count: o.nodes!, leader: o.leader! };
}

/** `--resume` values (repeatable), each a file or a file-name glob (`runs/x/node-*.bin`), in sorted order. */
function resumeFiles(resume: string | string[] | undefined): string | string[] | undefined {
  if (resume === undefined) return undefined;
  const list = Array.isArray(resume) ? resume : [resume];
  const out: string[] = [];
  for (const r of list) {
    if (!/[*?[]/.test(r)) {
      out.push(r);
      continue;
    }
    const found = globFiles(path.dirname(path.resolve(r)), path.basename(r));
    if (found.length === 0) throw new ConfigError("--resume", `${r} matches no file`);
    out.push(...found);
  }
  return out.length === 1 ? out[0] : out;
}
