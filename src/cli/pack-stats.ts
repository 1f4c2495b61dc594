/** `mixload pack-stats`: run the loader for N steps and report packing and mixing figures. */
import type { LoaderStats } from "../loader/loader.js";
import { openRun } from "./common.js";

export interface PackStatsOptions {
  config: string;
  steps: number;
  json?: boolean;
  workers?: number;
}

/** The loader's served-data figures (its stats), plus the targets and the speed. */
export interface PackStatsReport extends Omit<LoaderStats, "step" | "documents_by_domain" | "selection"> {
  steps: number;
  strategy: string;
  target: Record<string, number>;
  /** Σ_i |achieved_i − target_i| over served non-padding tokens. */
  l1_error: number;
  tokens_per_s: number;
  /** Tokens per CPU-second of this process (all threads): steadier than wall time on a busy machine. */
  tokens_per_cpu_s: number;
}

export async function packStats(options: PackStatsOptions): Promise<PackStatsReport> {
  const { loaded, loader, mixer } = await openRun(options.config, { workers: options.workers });
  try {
    const started = process.hrtime.bigint();
    const cpuStarted = process.cpuUsage();
    const target = new Float64Array(loader.domains.length);
    let steps = 0;
    for (; steps < options.steps; steps++) {
      const w = mixer.weights(loader.step);
      // The target of a run with changing weights is the token-weighted average of the weights used.
      for (let i = 0; i < w.length; i++) target[i] += w[i];
      if ((await loader.next(w)) === null) break;
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpu = process.cpuUsage(cpuStarted);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    const s = loader.stats();
    const targetByName: Record<string, number> = {};
    let l1 = 0;
    loader.domains.forEach((name, i) => {
      targetByName[name] = steps === 0 ? 0 : target[i] / steps;
      l1 += Math.abs(s.achieved[name] - targetByName[name]);
    });
    return {
      steps,
      strategy: loaded.config.packing.strategy,
      documents: s.documents,
      tokens: s.tokens,
      sequences: s.sequences,
      fill_rate: s.fill_rate,
      truncations: s.truncations,
      min_truncations: s.min_truncations,
      padding_tokens: s.padding_tokens,
      achieved: s.achieved,
      target: targetByName,
      l1_error: l1,
      skipped: s.skipped,
      epochs: s.epochs,
      tokens_per_s: s.tokens / seconds,
      tokens_per_cpu_s: s.tokens / cpuSeconds,
    };
  } finally {
    await loader.close();
  }
}

export function formatPackStats(r: PackStatsReport): string {
  const lines = [
    `${r.steps} steps, ${r.strategy}: ${r.sequences} sequences, ${r.tokens} tokens from ${r.documents} documents`,
    `fill rate ${(100 * r.fill_rate).toFixed(3)}%, truncations ${r.truncations} (minimum possible ${r.min_truncations}), padding ${r.padding_tokens}`,
    `token mix L1 error vs target: ${(100 * r.l1_error).toFixed(3)}%   throughput ${(r.tokens_per_s / 1e6).toFixed(3)} M tokens/s`,
    "domain                      target  achieved  epochs",
  ];
  for (const name of Object.keys(r.achieved)) {
    lines.push(`${name.padEnd(26)} ${r.target[name].toFixed(4)}    ${r.achieved[name].toFixed(4)}  ${r.epochs[name]}`);
  }
  const skips = Object.entries(r.skipped);
  lines.push(skips.length === 0 ? "skipped documents: none" : `skipped documents: ${skips.map(([k, v]) => `${k}=${v}`).join(", ")}`);
  return lines.join("\n");
}
