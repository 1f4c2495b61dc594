/**
 * Serving throughput with selection and dedup on vs off, same data (issue 12: ≥ 0.9×).
 *
 * The data is the pre-tokenized Brown corpus (15 genres as Megatron .bin/.idx, ~74 tokens per
 * document): the per-document-bound case, where a per-document cost of selection would show
 * most. "On" gives every domain `select: {score: "density", sample: "inverse_density", rate: 0.7}`
 * over sidecars written by `mixload score --method density`, plus `dedup: {exact: true, near: …}`;
 * "off" is the same config without them. Both are measured with `pack-stats` (serving only: the
 * one pass over the scores and the dedup at open are not in the figure), interleaved, medians of
 * the repeats; anchor = off from the same run.
 */
import fs from "node:fs";
import path from "node:path";
import { packStats } from "../src/cli/pack-stats.js";
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
  const on = {
    ...base,
    domains: base.domains.map((d) => ({ ...d, select: { score: "density", scores, sample: "inverse_density", rate: 0.7 } })),
    dedup: { exact: true, near: { threshold: 0.8 } },
  };
  const onConfig = path.join(o.cache, "select-on.json");
  fs.writeFileSync(onConfig, JSON.stringify(on));
  // Open once first: dedup runs (and is cached under cache_dir/dedup) before anything is timed.
  await packStats({ config: onConfig, steps: 1 });
  const off: number[] = [];
  const with_: number[] = [];
  let documents = { off: 0, on: 0 };
  for (let r = 0; r < o.repeats; r++) {
    const a = await packStats({ config: o.offConfig, steps });
    const b = await packStats({ config: onConfig, steps });
    off.push(a.tokens_per_s);
    with_.push(b.tokens_per_s);
    documents = { off: a.documents, on: b.documents };
  }
  const offRate = median(off) / 1e6;
  const onRate = median(with_) / 1e6;
  return [
    byRatio(
      {
        stage: "select.throughput",
        value: onRate,
        unit: "M tokens/s",
        note: `pre-tokenized Brown, ${steps} steps; inverse-density sampling at rate 0.7 + exact/near dedup on every domain; ${documents.on} vs ${documents.off} documents served`,
      },
      { name: "selection and dedup off, same data, M tokens/s", value: offRate },
      "≥",
      0.9,
    ),
  ];
}
