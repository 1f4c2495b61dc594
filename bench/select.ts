/**
 * Serving throughput with selection and dedup on vs off, same data (issue 12: ≥ 0.9×).
 *
 * The data is the pre-tokenized Brown corpus (15 genres as Megatron .bin/.idx, ~74 tokens per
 * document): the per-document-bound case, where a per-document cost of selection would show
 * most. `select.throughput` gives every domain `select: {score: "density", sample:
 * "inverse_density", rate: 0.7}` over sidecars written by `mixload score --method density`, plus
 * `dedup: {exact: true, near: …}`; `select.throughput.random` the same with a score-blind keep
 * probability (tempered, T = 1e9), which keeps the document mix and so isolates the cost of the
 * machinery; "off" is the same config without either. Both are measured with `pack-stats` (serving only: the
 * one pass over the scores and the dedup at open are not in the figure), interleaved, medians of
 * the repeats; anchor = off from the same run. The verdict is on tokens per CPU-second of the
 * process (steadier than wall time on this shared 2-core machine); the note gives the wall-time
 * ratio and documents/s: inverse-density sampling keeps shorter documents (short texts have
 * sparse, rarely colliding embeddings), so the same tokens take more documents, and this data is
 * bound by per-document work.
 */
import fs from "node:fs";
import path from "node:path";
import { packStats, type PackStatsReport } from "../src/cli/pack-stats.js";
import { scoreCommand } from "../src/cli/score.js";
import { byRatio, type Row } from "./row.js";

export interface SelectBenchOptions {
  /** A run config over pre-tokenized data (selection and dedup off). */
  readonly offConfig: string;
  readonly cache: string;
  readonly repeats: number;
  readonly steps?: number;
  readonly log: (line: string) => void;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

export async function benchSelect(o: SelectBenchOptions): Promise<Row[]> {
  const steps = o.steps ?? 1000;
  const scores = path.join(o.cache, "select-density");
  if (!fs.existsSync(scores)) {
    o.log("select: density scores of pre-tokenized Brown (mixload score --method density)");
    await scoreCommand({ config: o.offConfig, method: "density", out: scores });
  }
  const base = JSON.parse(fs.readFileSync(o.offConfig, "utf8")) as { domains: Record<string, unknown>[] };
  const write = (name: string, select: Record<string, unknown>): string => {
    const file = path.join(o.cache, `select-${name}.json`);
    const config = {
      ...base,
      domains: base.domains.map((d) => ({ ...d, select: { score: "density", scores, rate: 0.7, ...select } })),
      dedup: { exact: true, near: { threshold: 0.8 } },
    };
    fs.writeFileSync(file, JSON.stringify(config));
    return file;
  };
  const configs = {
    off: o.offConfig,
    // Density: keeps shorter documents (their embeddings collide less), so it changes the mix.
    density: write("density", { sample: "inverse_density" }),
    // The same machinery with a keep probability that ignores the score (T → ∞): the overhead alone.
    random: write("random", { sample: "tempered", temperature: 1e9 }),
  };
  // Open once first: dedup runs (and is cached under cache_dir/dedup) before anything is timed.
  await packStats({ config: configs.density, steps: 1 });
  const runs = { off: [] as PackStatsReport[], density: [] as PackStatsReport[], random: [] as PackStatsReport[] };
  for (let r = 0; r < o.repeats; r++) for (const k of ["off", "density", "random"] as const) runs[k].push(await packStats({ config: configs[k], steps }));
  const cpu = (xs: PackStatsReport[]) => median(xs.map((x) => x.tokens_per_cpu_s)) / 1e6;
  const wall = (xs: PackStatsReport[]) => median(xs.map((x) => x.tokens_per_s)) / 1e6;
  const docsPerS = (xs: PackStatsReport[]) => median(xs.map((x) => (x.tokens_per_s * x.documents) / x.tokens));
  const anchor = { name: "selection and dedup off, same data, M tokens/CPU-s", value: cpu(runs.off) };
  const row = (kind: "density" | "random", stage: string, what: string): Row =>
    byRatio(
      {
        stage,
        value: cpu(runs[kind]),
        unit: "M tokens/CPU-s",
        note: `pre-tokenized Brown, ${steps} steps; ${what} at rate 0.7 + exact/near dedup on every domain; ${runs[kind][0].documents} vs ${runs.off[0].documents} documents for the same tokens; wall ${wall(runs[kind]).toFixed(2)} vs ${wall(runs.off).toFixed(2)} M tokens/s (${(wall(runs[kind]) / wall(runs.off)).toFixed(2)}×), ${(docsPerS(runs[kind]) / 1e3).toFixed(0)} vs ${(docsPerS(runs.off) / 1e3).toFixed(0)} k documents/s (${(docsPerS(runs[kind]) / docsPerS(runs.off)).toFixed(2)}×)`,
      },
      anchor,
      "≥",
      0.9,
    );
  return [
    row("density", "select.throughput", "inverse-density sampling"),
    row("random", "select.throughput.random", "score-blind sampling (tempered, T = 1e9)"),
  ];
}
