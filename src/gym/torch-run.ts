/**
 * `mixload gym --learner torch`: the tiny GPT of examples/python/train_gpt.py as the gym's
 * learner, trained through the real service. Per seed and per run, a `mixload serve` process is
 * started on a fresh loopback port with the run's mixer, and examples/python/gym_torch.py trains
 * against it with clients/python: every batch and every feedback message crosses real ZeroMQ
 * sockets, and the weights are the service's own schedule (its WeightSchedule, feedback lag and
 * recorded schedule.jsonl), not a re-implementation.
 *
 * Same data discipline as the n-gram gym (run.ts): the corpus is tokenized once, each seed's
 * split (split.ts) gives the train part the proxies' services read, the reference part the
 * reference's service reads, and held-out documents neither sees. The DoReMi reference is a GPT
 * of the same size trained first, for the same number of steps, on the reference part under
 * gym.reference.mix (a static service), then frozen: every proxy scores its own training batch
 * with it (ref_loss_sum, per-token clipped excess_loss_sum; Xie et al. 2023, Algorithm 1).
 * Every mixer gets the same steps × rows × seq_len, the same initialisation (the seed) and
 * the same held-out sets; results are MixerResult per (mixer, seed), summarised by aggregate.ts,
 * so the report (format.ts, html.ts) is the n-gram gym's.
 *
 * Learner settings (gym.learner.params, all optional): seq_len 128 and batch_size 8 (a CPU
 * budget, in place of the config's), buffer_docs 64 (packing buffer: the rows of a step are
 * packed from the buffer, so with the n-gram configs' 512 paragraphs ≈ 38k tokens the served mix
 * would trail the weights by ~37 steps of 1,024 tokens; 64 keeps it to a few and lets Aioli's
 * short probes be served as asked), d_model 64, layers 2, heads 2, lr 3e-3, warmup 10,
 * threads 1, eval_tokens 1024 (held-out tokens per domain evaluated), eval_every (default
 * max(gym.eval_every, ⌈steps/4⌉): a full evaluation costs several training steps), timeout_s 1800 per run.
 * Python: $MIXLOAD_PYTHON or /usr/bin/python3, with torch, pyzmq, msgpack and numpy.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { ConfigError } from "../util/errors.js";
import { summarise } from "./aggregate.js";
import type { GymConfig } from "./config.js";
import { tokenCount, tokenizeCorpus } from "./corpus.js";
import { gymDefaults, type RunShape } from "./defaults.js";
import { objectives, perDomain, WeightTracker, type GymReport, type MixerResult } from "./report.js";
import { failed, runLine, type GymOptions } from "./run.js";
import { splitForSeed, type SeedSplit } from "./split.js";
import { meanInterval } from "./stats.js";

export const torchParamsSchema = z
  .object({
    seq_len: z.number().int().min(8).default(128),
    batch_size: z.number().int().positive().default(8),
    buffer_docs: z.number().int().positive().default(64),
    d_model: z.number().int().positive().default(64),
    layers: z.number().int().positive().default(2),
    heads: z.number().int().positive().default(2),
    lr: z.number().positive().default(3e-3),
    warmup: z.number().int().nonnegative().default(10),
    threads: z.number().int().positive().default(1),
    eval_tokens: z.number().int().positive().default(1024),
    /** Held-out evaluation every this many steps (default: gym.eval_every, but at most 4 evaluations plus the last). */
    eval_every: z.number().int().positive().optional(),
    timeout_s: z.number().positive().default(1800),
  })
  .strict();
export type TorchParams = z.infer<typeof torchParamsSchema>;

const ROOT = findRoot(path.dirname(fileURLToPath(import.meta.url)));
const SCRIPT = path.join(ROOT, "examples/python/gym_torch.py");
const MAIN = path.join(ROOT, "dist/src/cli/main.js");
export const PYTHON = process.env.MIXLOAD_PYTHON ?? "/usr/bin/python3";

function findRoot(dir: string): string {
  for (let d = dir; ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, "package.json")) && fs.existsSync(path.join(d, "examples"))) return d;
    if (path.dirname(d) === d) throw new Error(`mixload: no repository root above ${dir}`);
  }
}

export function torchParams(g: GymConfig): TorchParams {
  const parsed = torchParamsSchema.safeParse(g.gym.learner.kind === "torch" ? g.gym.learner.params : {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const keys = issue.code === "unrecognized_keys" ? issue.keys : issue.path.map(String);
    throw new ConfigError(`gym.learner.params.${keys.join(".")}`, issue.message);
  }
  return parsed.data;
}

/** Ports the OS says are free now (the service binds them a moment later; loopback only). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** The serve config of one run: the split's part as Megatron sources, absolute paths, the run's mixer and ports. */
function serveConfig(
  g: GymConfig,
  part: SeedSplit["train"],
  mixer: { name: string; params?: Record<string, unknown> },
  p: TorchParams,
  ports: number[],
  runDir: string,
) {
  const abs = (x: unknown) => (typeof x === "string" ? path.resolve(g.loaded.baseDir, x) : x);
  const tok = g.raw.tokenizer as Record<string, unknown>;
  const c = part.config;
  return {
    ...g.raw,
    ...(g.raw.cache_dir === undefined ? {} : { cache_dir: abs(g.raw.cache_dir) }),
    seed: c.seed,
    seq_len: p.seq_len,
    batch_size: p.batch_size,
    world: 1,
    packing: { ...c.packing, buffer_docs: p.buffer_docs },
    tokenizer: { ...tok, path: abs(tok.path), ...(tok.config === undefined ? {} : { config: abs(tok.config) }), workers: 0 },
    domains: c.domains.map((d) => ({ name: d.name, sources: d.sources.map((s) => ({ ...s, path: abs((s as { path?: string }).path) })) })),
    mixer,
    serve: { control: `tcp://127.0.0.1:${ports[0]}`, weights: `tcp://127.0.0.1:${ports[1]}`, feedback_lag: g.gym.feedback_lag, run_dir: runDir },
  };
}

interface PythonResult {
  domains: string[];
  heldout: number[];
  curve: { step: number; heldout: number[]; weights: number[] }[];
  weights: number[][];
  achieved: Record<string, number>;
  parameters: number;
  model: Record<string, unknown>;
  wall_s: number;
}

/** Run a child to completion; rejects with the last lines of its stderr. */
function runChild(cmd: string, args: string[], timeoutMs: number, onLine: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
    const tail: string[] = [];
    let buf = "";
    child.stderr.on("data", (b: Buffer) => {
      buf += b.toString();
      const lines = buf.split("\n");
      buf = lines.pop() ?? "";
      for (const l of lines) {
        tail.push(l);
        if (tail.length > 20) tail.shift();
        if (l.startsWith("gym_torch:")) onLine(l);
      }
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`${cmd}: ${e.message}`));
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else
        reject(
          new Error(
            `${path.basename(args[0] ?? cmd)} exited with ${code ?? signal}: ${tail
              .filter((l) => l.trim())
              .slice(-3)
              .join(" | ")}`,
          ),
        );
    });
  });
}

/** One service + one Python trainer: start serve, train against it, stop serve (SIGTERM: it writes its state and exits). */
async function trainOnce(
  g: GymConfig,
  part: SeedSplit["train"],
  mixer: { name: string; params?: Record<string, unknown> },
  p: TorchParams,
  dir: string,
  py: { steps: number; evalEvery: number; heldout: string; seed: number; refCkpt?: string; saveCkpt?: string },
  log: (line: string) => void,
): Promise<PythonResult> {
  fs.mkdirSync(dir, { recursive: true });
  const ports = [await freePort(), await freePort()];
  const cfgFile = path.join(dir, "serve.json");
  fs.writeFileSync(cfgFile, JSON.stringify(serveConfig(g, part, mixer, p, ports, path.join(dir, "run"))));
  const serve = spawn(process.execPath, ["--single-threaded-gc", MAIN, "serve", "--config", cfgFile], { stdio: ["ignore", "ignore", "pipe"] });
  let serveErr = "";
  serve.stderr.on("data", (b: Buffer) => {
    serveErr = (serveErr + b.toString()).slice(-2000);
  });
  const exited = new Promise<number | null>((resolve) => serve.on("exit", (code) => resolve(code)));
  const out = path.join(dir, "result.json");
  const args = [
    SCRIPT,
    "--endpoint",
    `tcp://127.0.0.1:${ports[0]}`,
    "--steps",
    String(py.steps),
    "--heldout",
    py.heldout,
    "--out",
    out,
    "--seed",
    String(py.seed),
    "--eval-every",
    String(py.evalEvery),
    "--d-model",
    String(p.d_model),
    "--layers",
    String(p.layers),
    "--heads",
    String(p.heads),
    "--lr",
    String(p.lr),
    "--warmup",
    String(p.warmup),
    "--threads",
    String(p.threads),
    ...(py.refCkpt ? ["--ref-ckpt", py.refCkpt] : []),
    ...(py.saveCkpt ? ["--save-ckpt", py.saveCkpt] : []),
  ];
  try {
    await Promise.race([
      runChild(PYTHON, args, p.timeout_s * 1000, log),
      exited.then((code) => {
        const said = serveErr.split("\n").filter((l) => l.trim() && !/^\s+at /.test(l));
        throw new Error(`mixload serve exited early (${code}): ${said.slice(-2).join(" | ")}`);
      }),
    ]);
  } finally {
    if (serve.exitCode === null) serve.kill("SIGTERM");
    await exited;
  }
  return JSON.parse(fs.readFileSync(out, "utf8")) as PythonResult;
}

/** Held-out documents per domain, the first eval_tokens tokens' worth, as the Python side reads them. */
function writeHeldout(file: string, names: readonly string[], heldout: readonly (readonly Int32Array[])[], cap: number): void {
  const docs = heldout.map((ds) => {
    const out: number[][] = [];
    let n = 0;
    for (const d of ds) {
      if (n >= cap) break;
      out.push(Array.from(d));
      n += d.length;
    }
    return out;
  });
  fs.writeFileSync(file, JSON.stringify({ domains: names, docs }));
}

export async function runTorchGym(g: GymConfig, options: GymOptions): Promise<GymReport> {
  const log = options.log ?? (() => undefined);
  const { config } = g.loaded;
  const p = torchParams(g);
  if (!fs.existsSync(MAIN)) throw new ConfigError("--learner", `torch needs the built CLI at ${MAIN}: run \`npm run build\` first`);
  if (!fs.existsSync(SCRIPT)) throw new ConfigError("--learner", `torch needs ${SCRIPT}`);
  const steps = options.steps ?? g.gym.steps;
  const nSeeds = options.seeds ?? g.gym.seeds;
  const names = config.domains.map((d) => d.name);
  const K = names.length;
  const started = Date.now();
  const { corpus, vocab, cacheDir } = await tokenizeCorpus(g, options.workers);
  const seqLen = p.seq_len;
  const rows = p.batch_size;
  const evalEvery = p.eval_every ?? Math.max(g.gym.eval_every, Math.ceil(steps / 4));
  const shape: RunShape = { steps, tokensPerStep: rows * seqLen, evalEvery, vocabSize: vocab };
  const seeds = Array.from({ length: nSeeds }, (_, i) => config.seed + i);
  const runs: MixerResult[][] = options.mixers.map(() => []);
  const refHeld: Float64Array[] = [];
  let first: SeedSplit | null = null;
  let model: Record<string, unknown> = {};
  fs.mkdirSync(cacheDir, { recursive: true });
  const runDir = fs.mkdtempSync(path.join(cacheDir, "gym-torch-"));
  try {
    for (const seed of seeds) {
      const dir = path.join(runDir, `seed-${seed}`);
      const split = splitForSeed(g, corpus, seed, dir, vocab);
      first ??= split;
      const heldout = path.join(dir, "heldout.json");
      writeHeldout(heldout, names, split.heldout, p.eval_tokens);
      const refCkpt = path.join(dir, "reference.pt");
      const t0 = Date.now();
      const ref = await trainOnce(
        g,
        split.reference,
        { name: g.gym.reference.mix },
        p,
        path.join(dir, "reference"),
        { steps, evalEvery, heldout, seed: seed + 1, saveCkpt: refCkpt },
        log,
      );
      model = { parameters: ref.parameters, ...ref.model, seq_len: seqLen, batch_size: rows, eval_tokens: p.eval_tokens };
      const refLoss = Float64Array.from(ref.heldout);
      refHeld.push(refLoss);
      log(
        `seed ${seed}: torch reference (${g.gym.reference.mix}) mean held-out ${(refLoss.reduce((a, b) => a + b, 0) / K).toFixed(3)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      );
      for (const [m, name] of options.mixers.entries()) {
        const t1 = Date.now();
        let r: MixerResult;
        try {
          const params = { ...gymDefaults(name, shape), ...(g.gym.mixers[name] ?? {}) };
          const res = await trainOnce(g, split.train, { name, params }, p, path.join(dir, name), { steps, evalEvery, heldout, seed, refCkpt }, log);
          r = toResult(name, seed, params, names, res, refLoss);
        } catch (e) {
          r = failed(name, seed, names, (e as Error).message, 0);
        }
        r.wall_seconds = (Date.now() - t1) / 1000;
        runs[m].push(r);
        log(runLine(r));
      }
    }
  } finally {
    fs.rmSync(runDir, { recursive: true, force: true });
  }
  const f = first!;
  return {
    mode: "real",
    config: g.loaded.file ?? null,
    steps,
    tokens_per_step: shape.tokensPerStep,
    feedback_lag: g.gym.feedback_lag,
    eval_every: evalEvery,
    domains: names,
    seeds,
    learner: { name: "torch", kind: "tiny GPT (examples/python/train_gpt.py) via mixload serve + clients/python", ...model },
    reference: {
      mix: g.gym.reference.mix,
      heldout: Object.fromEntries(names.map((n, i) => [n, meanInterval(refHeld.map((h) => h[i]))])),
      mean: meanInterval(refHeld.map((h) => h.reduce((a, b) => a + b, 0) / K)),
    },
    split: {
      train: perDomain(names, f.counts.train),
      reference: perDomain(names, f.counts.reference),
      heldout: perDomain(names, f.counts.heldout),
      heldout_tokens: perDomain(
        names,
        f.heldout.map((docs) => tokenCount(docs)),
      ),
    },
    wall_seconds: (Date.now() - started) / 1000,
    mixers: summarise(runs, names, { dogeTarget: false, checks: g.gym.weight_checks }),
  };
}

/** A Python run as the gym's per-seed result (same fields as the n-gram learner's). */
function toResult(name: string, seed: number, params: Record<string, unknown>, names: readonly string[], r: PythonResult, ref: Float64Array): MixerResult {
  if (r.domains.join("\n") !== names.join("\n")) throw new Error(`gym_torch reported domains ${r.domains.join(", ")}, expected ${names.join(", ")}`);
  const tracker = new WeightTracker(names);
  for (const w of r.weights) tracker.add(w);
  return {
    name,
    seed,
    params: { name, ...params },
    heldout: perDomain(names, r.heldout),
    ...objectives(names, r.heldout, ref),
    target: null,
    weights: tracker.summary(),
    achieved: r.achieved,
    curve: r.curve.map((c) => {
      const o = objectives(names, c.heldout, ref);
      return { step: c.step, mean: o.mean, worst_excess: o.worst_excess.excess, weights: c.weights };
    }),
    wall_seconds: 0,
  };
}
