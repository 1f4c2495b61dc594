/**
 * `mixload gym`: run several mixers side by side on identical data and budget, over several
 * seeds, each feeding a real online learner (or, with --synthetic, fitted scaling laws with an
 * exact oracle), and compare them with the uniform baseline, which is always included (Aioli's
 * caution: stratified sampling is hard to beat). Prints the table, writes the HTML report.
 */
import fs from "node:fs";
import { listMixers } from "../../mixers/registry.js";
import { loadGymConfig } from "../gym/config.js";
import { formatReport } from "../gym/format.js";
import { renderGymReport } from "../gym/html.js";
import { runGym } from "../gym/run.js";
import { runSynthetic } from "../gym/synthetic.js";
import { runTorchGym } from "../gym/torch-run.js";
import { ConfigError } from "../util/errors.js";

export interface GymCommandOptions {
  config: string;
  mixers: string;
  steps?: number;
  seeds?: number;
  learner?: string;
  synthetic?: boolean;
  json?: boolean;
  workers?: number;
  /** HTML report path; false: none. */
  report?: string | false;
}

export function parseMixerList(list: string): string[] {
  const known = new Set(listMixers().map((m) => m.name));
  const names = list
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  for (const n of names) if (!known.has(n)) throw new ConfigError("--mixers", `unknown mixer "${n}" (known: ${[...known].join(", ")})`);
  if (new Set(names).size !== names.length) throw new ConfigError("--mixers", `a mixer is listed twice in "${list}"`);
  return names.includes("uniform") ? names : ["uniform", ...names];
}

export async function gymCommand(o: GymCommandOptions): Promise<void> {
  const g = loadGymConfig(o.config);
  const mixers = parseMixerList(o.mixers);
  const log = (line: string) => process.stderr.write(`gym: ${line}\n`);
  const report = o.synthetic
    ? runSynthetic(g, { mixers, steps: o.steps, seeds: o.seeds })
    : (o.learner ?? g.gym.learner.kind) === "torch"
      ? await runTorchGym(g, { mixers, steps: o.steps, seeds: o.seeds, workers: o.workers, log })
      : await runGym(g, { mixers, steps: o.steps, seeds: o.seeds, learner: o.learner, workers: o.workers, log });
  if (o.report !== false) {
    const file = o.report ?? "gym-report.html";
    fs.writeFileSync(file, renderGymReport(report));
    log(`report: ${file}`);
  }
  process.stdout.write(o.json ? `${JSON.stringify(report)}\n` : `${formatReport(report)}\n`);
}
