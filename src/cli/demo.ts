/**
 * `npm start`: the loader on the bundled Brown corpus (15 genres = 15 domains), printing the
 * packing and mixing figures. Later milestones turn this into the full service + trainer demo.
 */
import { formatPackStats, packStats } from "./pack-stats.js";

export async function demoCommand(options: { config: string; steps: number }): Promise<void> {
  process.stderr.write(`mixload demo: ${options.steps} steps of ${options.config} (best-fit packing, tokenized on the fly)\n`);
  const report = await packStats({ config: options.config, steps: options.steps });
  process.stdout.write(`${formatPackStats(report)}\n`);
}
