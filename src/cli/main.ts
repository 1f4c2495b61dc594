#!/usr/bin/env node
/** The `mixload` command line. Each subcommand lives in its own module; this file only wires flags. */
import path from "node:path";
import { Command, InvalidArgumentError } from "commander";
import { VERSION } from "../version.js";
import { runCommand } from "./lifecycle.js";
import type { ProvenanceOptions } from "./provenance.js";
import type { ReplayOptions } from "./replay.js";
import type { ScheduleExportOptions } from "./schedule.js";
// Commands are imported when run, not here: `serve` should not compile the report's charting
// library or the gym (startup time is part of `serve --resume` → first batch).

/** The package folder (dist/src/cli/main.js → ../../..), so `npm start` finds the bundled config from anywhere. */
const PACKAGE_ROOT = path.resolve(import.meta.dirname, "../../..");

/** The mixers `mixload gym` compares unless told otherwise (all of them but static/natural/temperature presets). */
const DEFAULT_GYM_MIXERS = "uniform,doremi,doge,velocitune,bimix,odm,ado";

function integer(min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer ≥ ${min}, got ${JSON.stringify(value)}`);
    return n;
  };
}

const program = new Command().name("mixload").description("Training-time data loader and dynamic data mixer for LLM training").version(VERSION);

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
    runCommand(async () => (await import("./batches.js")).batchesCommand(o)),
  );

program
  .command("inspect")
  .description("open every source of a config and show what it found: files, documents, estimated tokens, columns, metadata, codecs, row groups")
  .requiredOption("--config <file>", "run config (JSON)")
  .option("--json", "print JSON")
  .option("--workers <n>", "tokenizer worker threads (overrides the config)", integer(0))
  .action((o: { config: string; json?: boolean; workers?: number }) =>
    runCommand(async () => {
      const { formatInspect, inspect } = await import("./inspect.js");
      const report = await inspect(o);
      process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatInspect(report)}\n`);
    }),
  );

program
  .command("score")
  .description("score every document (perplexity under a reference domain's n-gram LM, or Density's KDE) into per-source sidecars for `select`")
  .requiredOption("--config <file>", "run config (JSON; a gym config works too)")
  .requiredOption("--method <method>", "perplexity | density")
  .requiredOption("--out <dir>", "sidecar folder (name it in a domain's select.scores)")
  .option("--reference <domain>", "perplexity: the domain the language model is trained on")
  .option("--tables <n>", "density: hash functions R of the sketch", integer(1))
  .option("--bits <n>", "density: signed random projections per hash (buckets 2^bits, ≤ 16)", integer(1))
  .option("--dims <n>", "density: hashed n-gram embedding dimensions", integer(1))
  .option("--json", "print JSON")
  .option("--workers <n>", "tokenizer worker threads (overrides the config)", integer(0))
  .action(
    (o: { config: string; method: string; out: string; reference?: string; tables?: number; bits?: number; dims?: number; json?: boolean; workers?: number }) =>
      runCommand(async () => {
        const { formatScoreSummary, scoreCommand } = await import("./score.js");
        const summary = await scoreCommand(o);
        process.stdout.write(o.json ? `${JSON.stringify(summary)}\n` : `${formatScoreSummary(summary)}\n`);
      }),
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
      const { formatPackStats, packStats } = await import("./pack-stats.js");
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
  .action((o: { config: string; out: string; workers?: number }) => runCommand(async () => (await import("./tokenize.js")).tokenizeCommand(o)));

program
  .command("demo", { isDefault: false })
  .description("the `npm start` demo: service on Brown with doremi, the built-in n-gram trainer over ZeroMQ, per-domain table, HTML report, replay --verify")
  .option("--config <file>", "run config", path.join(PACKAGE_ROOT, "examples/configs/brown-small.json"))
  .option("--steps <n>", "training steps", integer(1), 300)
  .option("--ref-steps <n>", "steps of the natural-mix reference learner", integer(1), 150)
  .option("--run-dir <dir>", "run directory (default runs/demo-<time>)")
  .option("--http <port>", "dashboard port on 127.0.0.1 (default: a free one)", integer(0))
  .option("--workers <n>", "tokenizer worker threads (overrides the config)", integer(0))
  .action((o: { config: string; steps: number; refSteps: number; runDir?: string; http?: number; workers?: number }) =>
    runCommand(async () => (await import("./demo.js")).demoCommand(o)),
  );

program
  .command("replay")
  .description(
    "offline uses of a recorded run: --verify (rebuild every batch, compare digests), --serve (serve the recorded schedule), --mixer NAME (counterfactual)",
  )
  .requiredOption("--log <run_dir>", "run directory written by `mixload serve` (config.json, schedule.jsonl)")
  .option("--verify", "rebuild every step from config + seed + recorded schedule; exit 0 only when every digest matches")
  .option("--serve", "serve the recorded run over PROTOCOL v1 with the recorded schedule, ignoring feedback")
  .option("--mixer <name>", "COUNTERFACTUAL: fold the recorded feedback through this mixer and write its weight trajectory")
  .option("--params <json>", "params for --mixer (JSON)")
  .option("--steps <n>", "--verify: only the first N steps", integer(1))
  .option("--out <file>", "--mixer: trajectory file (default RUN_DIR/counterfactual-NAME.json)")
  .option("--config <file>", "use this config instead of RUN_DIR/config.json")
  .option("--run-dir <dir>", "--serve: run directory of the replayed service (default RUN_DIR/replay-<time>)")
  .option("--control <endpoint>", "--serve: ROUTER endpoint (overrides the recorded config)")
  .option("--weights <endpoint>", "--serve: PUB endpoint (overrides the recorded config)")
  .option("--http <port>", "--serve: live dashboard on 127.0.0.1:PORT", integer(0))
  .option("--json", "print JSON")
  .option("--workers <n>", "tokenizer worker threads (overrides the config)", integer(0))
  .action((o: ReplayOptions) => runCommand(async () => (await import("./replay.js")).replayCommand(o)));

program
  .command("schedule")
  .description("work with recorded weight schedules")
  .command("export")
  .description("turn a recorded schedule into a static mixer config fragment: one blend (--as static) or N phases (--as phases)")
  .requiredOption("--log <run_dir>", "run directory written by `mixload serve`")
  .requiredOption("--as <kind>", "static | phases")
  .option("--phases <n>", "number of phases for --as phases", integer(1), 2)
  .option("--retime <steps>", "stretch the phase boundaries to a run of this many steps", integer(1))
  .option("--out <file>", "write the fragment here instead of stdout")
  .option("--config <file>", "use this config instead of RUN_DIR/config.json")
  .action((o: ScheduleExportOptions) => runCommand(async () => (await import("./schedule.js")).scheduleExportCommand(o)));

program
  .command("report")
  .description("one self-contained HTML report of a run (weights, losses, shares, packing, throughput) plus SVG/PNG charts")
  .argument("<run_dir>", "run directory written by `mixload serve`")
  .option("--out <file>", "HTML file (default RUN_DIR/report.html; charts go to <name>-charts/ beside it)")
  .option("--no-rebuild", "do not rebuild the batches (no packing figures, achieved shares from feedback counts)")
  .option("--no-png", "skip the PNG charts (they need /usr/bin/chromium)")
  .option("--workers <n>", "tokenizer worker threads (overrides the config)", integer(0))
  .action((runDir: string, o: { out?: string; rebuild: boolean; png: boolean; workers?: number }) =>
    runCommand(async () => (await import("./report.js")).reportCommand(runDir, o)),
  );

program
  .command("gym")
  .description("compare mixers side by side on a real online n-gram learner (or --synthetic scaling laws); uniform always included")
  .requiredOption("--config <file>", "gym config (a run config plus a `gym` section, e.g. examples/configs/gym-brown.json)")
  .option("--mixers <list>", "comma-separated mixer names", DEFAULT_GYM_MIXERS)
  .option("--steps <n>", "steps per mixer (default: gym.steps)", integer(1))
  .option("--synthetic", "per-domain scaling laws with cross-domain transfer instead of the loader and learner")
  .option("--json", "print the full report as JSON")
  .option("--workers <n>", "tokenizer worker threads (overrides the config)", integer(0))
  .option("--seeds <n>", "repetitions over seeds seed, seed+1, … (default: gym.seeds, 5)", integer(1))
  .option("--learner <name>", "learner (default: gym.learner.kind, ngram; torch: the tiny GPT of examples/python/train_gpt.py through mixload serve)")
  .option("--report <file>", "HTML report path (default gym-report.html)")
  .option("--no-report", "write no HTML report")
  .action(
    (o: {
      config: string;
      mixers: string;
      steps?: number;
      synthetic?: boolean;
      json?: boolean;
      workers?: number;
      seeds?: number;
      learner?: string;
      report?: string | false;
    }) => runCommand(async () => (await import("./gym.js")).gymCommand(o)),
  );

program
  .command("serve")
  .description("serve batches over ZeroMQ (docs/PROTOCOL.md) until SIGINT/SIGTERM, then write the final state")
  .requiredOption("--config <file>", "run config (JSON)")
  .option(
    "--resume <file>",
    "continue from a state blob (the `state` op's bytes or a run dir's state.bin); node services: repeat it or give a glob to merge several nodes' blobs",
    (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
  )
  .option("--node <i>", "run as node service I of --nodes N under --leader (docs/scale-out.md)", integer(0))
  .option("--nodes <n>", "node services in the run (world and lanes must be multiples of it)", integer(1))
  .option("--leader <endpoint>", "the leader's control endpoint (`mixload leader --control`)")
  .option("--run-dir <dir>", "run directory for config.json, schedule.jsonl and state.bin (default: config serve.run_dir, else runs/<run_id>)")
  .option("--control <endpoint>", "ROUTER endpoint (overrides config serve.control)")
  .option("--weights <endpoint>", "PUB endpoint (overrides config serve.weights)")
  .option("--json", "progress as JSON lines on stderr")
  .option("--workers <n>", "tokenizer worker threads (overrides the config)", integer(0))
  .option("--insecure", "allow binding a non-loopback address without serve.curve keys (unauthenticated, unencrypted; warns)")
  .option("--http <port>", "live dashboard and Prometheus /metrics on http://127.0.0.1:PORT (0 picks a free port)", integer(0))
  .action(
    (o: {
      config: string;
      resume?: string[];
      node?: number;
      nodes?: number;
      leader?: string;
      runDir?: string;
      control?: string;
      weights?: string;
      json?: boolean;
      workers?: number;
      insecure?: boolean;
      http?: number;
    }) => runCommand(async () => (await import("./serve.js")).serveCommand(o)),
  );

program
  .command("leader")
  .description("the one mixer of a run served by node services (docs/scale-out.md): folds each step once every node reported it, publishes the weights")
  .requiredOption("--config <file>", "run config (JSON), the same file the node services use")
  .requiredOption("--nodes <n>", "node services in the run", integer(1))
  .option("--control <endpoint>", "ROUTER endpoint the nodes' --leader points at", "tcp://127.0.0.1:5600")
  .option("--weights <endpoint>", "PUB endpoint for the weights (nodes learn it from the leader)", "tcp://127.0.0.1:5601")
  .option("--run-dir <dir>", "run directory for config.json, schedule.jsonl and leader-state.bin (default: config serve.run_dir, else runs/<run_id>)")
  .option("--resume <file>", "continue from RUN_DIR/leader-state.bin (rewritten after every fold)")
  .option("--json", "events as JSON lines on stderr")
  .option("--insecure", "allow binding a non-loopback address (the leader link is unauthenticated and unencrypted; warns)")
  .action((o: { config: string; nodes: number; control: string; weights: string; runDir?: string; resume?: string; json?: boolean; insecure?: boolean }) =>
    runCommand(async () => (await import("./leader.js")).leaderCommand(o)),
  );

program
  .command("provenance")
  .description("where the tokens of a logged step came from (domain, file, line/row, epoch, offset), rebuilt offline from a run directory")
  .requiredOption("--log <run_dir>", "run directory written by `mixload serve`")
  .requiredOption("--step <n>", "the step", integer(0))
  .option("--rank <r>", "only this rank (default: every rank; rank 0 with --row/--col)", integer(0))
  .option("--row <b>", "with --col: the segment covering the token at row B of the rank's batch", integer(0))
  .option("--col <t>", "with --row: the token's column", integer(0))
  .option("--text", "with --row/--col: the source document re-tokenized around that token, the token marked")
  .option("--context <n>", "--text: tokens shown on each side", integer(0))
  .option("--json", "print JSON")
  .option("--config <file>", "use this config instead of RUN_DIR/config.json")
  .option("--workers <n>", "tokenizer worker threads (overrides the config)", integer(0))
  .action((o: ProvenanceOptions) => runCommand(async () => (await import("./provenance.js")).provenanceCommand(o)));

program
  .command("dedup")
  .description("exact and MinHash-LSH near-duplicate removal across all domains: write the sidecar the loader reads, print drops and the cross-domain matrix")
  .requiredOption("--config <file>", "run config (JSON); its `dedup` block, else the defaults")
  .option("--out <dir>", "write <dir>/dedup.bin (default: the config's dedup.sidecar, else the cache the loader reads)")
  .option("--json", "print JSON")
  .action((o: { config: string; out?: string; json?: boolean }) => runCommand(async () => (await import("./dedup.js")).dedupCommand(o)));

program
  .command("keygen")
  .description("write a CURVE key pair <name>.key (secret) and <name>.pub for serve.curve and clients")
  .requiredOption("--out <dir>", "folder for the key files")
  .option("--name <name>", "file name stem", "mixload")
  .action((o: { out: string; name: string }) => runCommand(async () => (await import("./keygen.js")).keygenCommand(o)));

await program.parseAsync(process.argv);
