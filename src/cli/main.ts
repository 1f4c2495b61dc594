#!/usr/bin/env node
/** The `mixload` command line. Each subcommand lives in its own module; this file only wires flags. */
import { Command, InvalidArgumentError } from "commander";
import { VERSION } from "../version.js";
import { runCommand } from "./common.js";
import { batchesCommand } from "./batches.js";
import { formatPackStats, packStats } from "./pack-stats.js";
import { tokenizeCommand } from "./tokenize.js";
import { demoCommand } from "./demo.js";
import { serveCommand } from "./serve.js";
import { keygenCommand } from "./keygen.js";
import { DEFAULT_GYM_MIXERS, gymCommand } from "./gym.js";

function integer(min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer ≥ ${min}, got ${JSON.stringify(value)}`);
    return n;
  };
}

const program = new Command()
  .name("mixload")
  .description("Training-time data loader and dynamic data mixer for LLM training")
  .version(VERSION);

program
  .command("batches")
  .description("build N steps of batches; with --digest print `step sha256` per step")
  .requiredOption("--config <file>", "run config (JSON)")
  .requiredOption("--steps <n>", "steps to build", integer(0))
  .option("--save-state <file>", "write the resume state after the last step")
  .option("--resume <file>", "continue from a saved state")
  .option("--digest", "print one `step sha256` line per step (over the global batch arrays)")
  .option("--workers <n>", "tokenizer worker threads (overrides the config)", integer(0))
  .action((o: { config: string; steps: number; saveState?: string; resume?: string; digest?: boolean; workers?: number }) =>
    runCommand(() => batchesCommand(o)),
  );

program
  .command("pack-stats")
  .description("run the loader for N steps and report fill rate, truncations, token mix and throughput")
  .requiredOption("--config <file>", "run config (JSON)")
  .option("--steps <n>", "steps to build", integer(1), 100)
  .option("--json", "print JSON")
  .option("--workers <n>", "tokenizer worker threads (overrides the config)", integer(0))
  .action((o: { config: string; steps: number; json?: boolean; workers?: number }) =>
    runCommand(async () => {
      const report = await packStats(o);
      process.stdout.write(o.json ? `${JSON.stringify(report)}\n` : `${formatPackStats(report)}\n`);
    }),
  );

program
  .command("tokenize")
  .description("pre-tokenize every domain to Megatron .bin/.idx (uint16 when the vocabulary fits, else int32)")
  .requiredOption("--config <file>", "run config (JSON)")
  .requiredOption("--out <dir>", "output folder (one <domain>.bin/.idx pair per domain)")
  .option("--workers <n>", "tokenizer worker threads (overrides the config)", integer(0))
  .action((o: { config: string; out: string; workers?: number }) => runCommand(() => tokenizeCommand(o)));

program
  .command("demo", { isDefault: false })
  .description("the `npm start` demo: run the loader on the bundled Brown corpus config and print per-domain figures")
  .option("--config <file>", "run config", "examples/configs/brown.json")
  .option("--steps <n>", "steps", integer(1), 100)
  .action((o: { config: string; steps: number }) => runCommand(() => demoCommand(o)));

program
  .command("gym")
  .description("compare mixers side by side on a real online n-gram learner (or --synthetic scaling laws); uniform always included")
  .requiredOption("--config <file>", "gym config (a run config plus a `gym` section, e.g. examples/configs/gym-brown.json)")
  .option("--mixers <list>", "comma-separated mixer names", DEFAULT_GYM_MIXERS)
  .option("--steps <n>", "steps per mixer (default: gym.steps)", integer(1))
  .option("--synthetic", "per-domain scaling laws with cross-domain transfer instead of the loader and learner")
  .option("--json", "print the full report as JSON")
  .option("--workers <n>", "tokenizer worker threads (overrides the config)", integer(0))
  .action((o: { config: string; mixers: string; steps?: number; synthetic?: boolean; json?: boolean; workers?: number }) =>
    runCommand(() => gymCommand(o)),
  );

program
  .command("serve")
  .description("serve batches over ZeroMQ (docs/PROTOCOL.md) until SIGINT/SIGTERM, then write the final state")
  .requiredOption("--config <file>", "run config (JSON)")
  .option("--resume <file>", "continue from a state blob (the `state` op's bytes or a run dir's state.bin)")
  .option("--run-dir <dir>", "run directory for config.json, schedule.jsonl and state.bin (default: config serve.run_dir, else runs/<run_id>)")
  .option("--control <endpoint>", "ROUTER endpoint (overrides config serve.control)")
  .option("--weights <endpoint>", "PUB endpoint (overrides config serve.weights)")
  .option("--json", "progress as JSON lines on stderr")
  .option("--workers <n>", "tokenizer worker threads (overrides the config)", integer(0))
  .option("--insecure", "allow binding a non-loopback address without serve.curve keys (unauthenticated, unencrypted; warns)")
  .action((o: { config: string; resume?: string; runDir?: string; control?: string; weights?: string; json?: boolean; workers?: number; insecure?: boolean }) =>
    runCommand(() => serveCommand(o)),
  );

program
  .command("keygen")
  .description("write a CURVE key pair <name>.key (secret) and <name>.pub for serve.curve and clients")
  .requiredOption("--out <dir>", "folder for the key files")
  .option("--name <name>", "file name stem", "mixload")
  .action((o: { out: string; name: string }) => runCommand(async () => keygenCommand(o)));

await program.parseAsync(process.argv);
