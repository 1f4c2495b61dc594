/**
 * `mixload leader`: the one mixer of a run served by node services (docs/scale-out.md). Runs
 * until SIGINT/SIGTERM; its state blob (RUN_DIR/leader-state.bin) is rewritten after every fold,
 * so `--resume` of it continues the schedule even after a kill -9.
 */
import { loadConfig } from "../config/load.js";
import { MixerLeader, type LeaderEvent } from "../serve/leader.js";
import { untilSignal } from "./lifecycle.js";

export interface LeaderCommandOptions {
  config: string;
  nodes: number;
  control: string;
  weights: string;
  runDir?: string;
  resume?: string;
  json?: boolean;
  insecure?: boolean;
}

export async function leaderCommand(o: LeaderCommandOptions): Promise<void> {
  const loaded = loadConfig(o.config);
  const report = (e: LeaderEvent): void => {
    if (e.event === "fold" && !o.json) return; // one line per step is for --json readers
    process.stderr.write(
      o.json ? `${JSON.stringify({ time: new Date().toISOString(), ...e })}\n` : `mixload leader: ${e.message ?? `${e.event} at step ${e.step}`}\n`,
    );
  };
  const leader = await MixerLeader.open(
    loaded,
    { nodes: o.nodes, control: o.control, weights: o.weights, runDir: o.runDir, resume: o.resume, insecure: o.insecure },
    report,
  );
  const info = {
    event: "listening",
    run_id: leader.runId,
    control: leader.controlEndpoint,
    weights: leader.weightsEndpoint,
    run_dir: leader.runDir,
    nodes: o.nodes,
    next_fold: leader.nextFold,
  };
  process.stderr.write(
    o.json
      ? `${JSON.stringify(info)}\n`
      : `mixload leader: run ${info.run_id} · ${o.nodes} nodes · control ${info.control} · weights ${info.weights} · run dir ${info.run_dir}\n`,
  );
  await untilSignal();
  await leader.close();
}
