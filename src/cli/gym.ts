/**
 * `mixload gym`: run several mixers side by side on identical data and budget, each feeding a
 * real online learner (or, with --synthetic, fitted scaling laws), and compare them with the
 * uniform baseline, which is always included (Aioli's caution: stratified sampling is hard to beat).
 */
import { listMixers } from "../../mixers/registry.js";
import { loadGymConfig } from "../gym/config.js";
import { formatReport } from "../gym/report.js";
import { runGym } from "../gym/run.js";
import { runSynthetic } from "../gym/synthetic.js";
import { ConfigError } from "../util/errors.js";

export interface GymCommandOptions {
  config: string;
  mixers: string;
  steps?: number;
  synthetic?: boolean;
  json?: boolean;
  workers?: number;
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
  const report = o.synthetic ? runSynthetic(g, { mixers, steps: o.steps }) : await runGym(g, { mixers, steps: o.steps, workers: o.workers, log });
  process.stdout.write(o.json ? `${JSON.stringify(report)}\n` : `${formatReport(report)}\n`);
}
