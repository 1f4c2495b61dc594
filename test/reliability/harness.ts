/**
 * The reliability harness: a synthetic pre-tokenized corpus whose every token names its
 * document, a `mixload serve` child process that can be SIGKILLed and resumed, and a scripted
 * trainer (world ranks, deterministic feedback, a state blob kept after every step).
 *
 * No vitest in here: the CI tests (test/reliability/*.test.ts) and the long soak script
 * (scripts/soak.mjs, via dist/) both drive it; a broken invariant throws.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { SERVICE_NODE_FLAGS } from "../../src/cli/node-flags.js";
import { MixloadClient, MixloadError, type ClientBatch } from "../../src/client/client.js";
import { MegatronWriter } from "../../src/sources/index.js";
import { writeFileAtomic } from "../../src/util/atomic-file.js";
import { mulberry32 } from "../../src/util/hash.js";
import { codeOf, globalDigest } from "../serve/helpers.js";

function findRoot(from: string): string {
  for (let d = from; ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, "package.json")) && fs.existsSync(path.join(d, "src"))) return d;
    if (path.dirname(d) === d) throw new Error(`no project root above ${from}`);
  }
}

export const ROOT = findRoot(import.meta.dirname);
export const CLI = path.join(ROOT, "dist/src/cli/main.js");
/** The small brown-4k tokenizer (llama3 ids < 4096): quick to load, so a restart takes well under a second. */
const TOKENIZER = path.join(ROOT, "examples/tokenizers/brown-4k");

export const DOMAINS = ["alpha", "beta", "gamma"] as const;
/** Every token of document d of domain k is BASE + k·STRIDE + d: a batch says which document each token came from. */
const BASE = 10;
const STRIDE = 1000;

export interface Corpus {
  dir: string;
  /** token id → {domain, length}: every document, by the id its tokens carry. */
  docs: Map<number, { domain: number; length: number }>;
  tokensPerDomain: number[];
}

export function tempDir(prefix = "mixload-rel-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Small deterministic PRNG so the corpus is the same on every machine. */
export const rng = mulberry32;

/** Three domains of Megatron .bin/.idx; document lengths 1..maxLen (some longer than seq_len, so they are split). */
export function writeCorpus(dir: string, docsPerDomain: readonly number[], maxLen = 300, seed = 1): Corpus {
  if (docsPerDomain.some((n) => n > STRIDE - BASE)) throw new RangeError(`at most ${STRIDE - BASE} documents per domain`);
  const rand = rng(seed);
  const docs = new Map<number, { domain: number; length: number }>();
  const tokensPerDomain = [0, 0, 0];
  DOMAINS.forEach((name, k) => {
    const w = new MegatronWriter(path.join(dir, name), { vocabSize: 65536 });
    for (let d = 0; d < docsPerDomain[k]; d++) {
      const length = 1 + Math.floor(rand() * rand() * maxLen);
      const id = BASE + k * STRIDE + d;
      w.add(new Int32Array(length).fill(id));
      docs.set(id, { domain: k, length });
      tokensPerDomain[k] += length;
    }
    w.finish();
  });
  return { dir, docs, tokensPerDomain };
}

/** seq_len 128, B 2, world 2, DoReMi with lag 2, on_exhausted drop: the run ends when every document was served. */
export function writeConfig(dir: string, corpus: Corpus, name: string, overrides: Record<string, unknown> = {}, serve: Record<string, unknown> = {}): string {
  const config = {
    seed: 11,
    seq_len: 128,
    batch_size: 2,
    world: 2,
    tokenizer: { path: path.join(TOKENIZER, "tokenizer.json"), config: path.join(TOKENIZER, "tokenizer_config.json"), workers: 0 },
    packing: { strategy: "best_fit", buffer_docs: 16 },
    on_exhausted: "drop",
    domains: DOMAINS.map((n) => ({ name: n, sources: [{ type: "megatron", path: path.join(corpus.dir, n) }] })),
    mixer: { name: "doremi", params: { eta: 1 } },
    serve: {
      control: `ipc://${dir}/${name}-control.sock`,
      weights: `ipc://${dir}/${name}-weights.sock`,
      run_dir: path.join(dir, `${name}-run`),
      feedback_lag: 2,
      prefetch: 2,
      keep_steps: 8,
      ...serve,
    },
    ...overrides,
  };
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

// ---- the service as a child process ------------------------------------------------------

export class ServeProcess {
  child: ChildProcess | null = null;
  stderr = "";
  private exited: Promise<number | null> = Promise.resolve(null);
  starts = 0;

  constructor(
    readonly config: string,
    readonly extraArgs: string[] = [],
    /** The subcommand: `serve`, or `leader` (test/serve/scaleout-harness.ts). */
    readonly command: "serve" | "leader" = "serve",
  ) {}

  /** Start `mixload serve` as the README does (with SERVICE_NODE_FLAGS), resuming from `resume` if given, and wait until it listens. */
  async start(resume?: string): Promise<{ control: string }> {
    const args = [...SERVICE_NODE_FLAGS, CLI, this.command, "--config", this.config, "--json", ...this.extraArgs, ...(resume ? ["--resume", resume] : [])];
    const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] });
    this.child = child;
    this.starts += 1;
    let err = "";
    child.stderr?.on("data", (d: Buffer) => {
      err += d.toString();
      this.stderr += d.toString();
    });
    this.exited = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
    const end = Date.now() + 120_000;
    for (;;) {
      const line = err.split("\n").find((l) => l.includes('"listening"'));
      if (line !== undefined) {
        const listening = JSON.parse(line) as { control: string; node_flags_missing?: string[] };
        if (listening.node_flags_missing !== undefined)
          throw new Error(`mixload serve says it lacks ${listening.node_flags_missing.join(" ")}, which it was given`);
        return { control: listening.control };
      }
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`mixload serve exited before listening:\n${err}`);
      if (Date.now() > end) throw new Error(`mixload serve did not listen within 120 s:\n${err}`);
      await sleep(20);
    }
  }

  /** SIGKILL: no shutdown handler runs, nothing is flushed. */
  async kill(): Promise<void> {
    this.child?.kill("SIGKILL");
    await this.exited;
    this.child = null;
  }

  /** SIGTERM: the clean shutdown (final state.bin). */
  async stop(): Promise<number | null> {
    this.child?.kill("SIGTERM");
    const code = await this.exited;
    this.child = null;
    return code;
  }

  /** Resident set size of the service (kB), from /proc; null where /proc is missing. */
  rssKb(): number | null {
    const pid = this.child?.pid;
    if (pid === undefined) return null;
    try {
      const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
      return m ? Number(m[1]) : null;
    } catch {
      return null;
    }
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---- what a trainer sees ------------------------------------------------------------------

/** sha256 over the global batch, rank shares in rank order (the `batches --digest` layout). */
export { codeOf, globalDigest };

/** Per-document token counts of one batch (by the id every token carries); throws on a token whose domain_id disagrees. */
export function countDocs(b: ClientBatch, into: Map<number, number>): void {
  for (let i = 0; i < b.input_ids.length; i++) {
    const d = b.domain_ids[i];
    if (d < 0) continue;
    const id = b.input_ids[i];
    const k = Math.floor((id - BASE) / STRIDE);
    if (k !== d) throw new Error(`step ${b.step} rank ${b.rank}: token ${id} (domain ${k}) labelled domain ${d}`);
    into.set(id, (into.get(id) ?? 0) + 1);
  }
}

/** The skewed excess loss per token: `base + high` on every third (domain + step), `base + high·low` elsewhere. */
export interface ExcessShape {
  readonly base: number;
  readonly high: number;
  readonly low: number;
}

/** Feedback that is a pure function of the batch (so a replayed trainer sends the same), with a skewed excess loss so DoReMi moves. */
export function feedbackFor(b: ClientBatch) {
  return shapedFeedback(b, { base: 0.05, high: 0.4, low: 0.2 });
}

/** `feedbackFor` with another excess shape. */
export function shapedFeedback(b: ClientBatch, shape: ExcessShape) {
  const tokens = [0, 0, 0];
  for (let i = 0; i < b.domain_ids.length; i++) if (b.domain_ids[i] >= 0 && b.targets[i] !== -100) tokens[b.domain_ids[i]] += 1;
  const domains: Record<string, { loss_sum: number; tokens: number }> = {};
  const excess: Record<string, number> = {};
  DOMAINS.forEach((name, k) => {
    if (tokens[k] === 0) return;
    domains[name] = { loss_sum: tokens[k] * (2 + k * 0.25), tokens: tokens[k] };
    excess[name] = tokens[k] * (shape.base + shape.high * ((k + b.step) % 3 === 0 ? 1 : shape.low));
  });
  return { step: b.step, rank: b.rank, domains, excess_loss_sum: excess, lr: 1e-3 };
}

export type KillPhase = "after-rank0-batch" | "mid-prefetch" | "during-weight-change" | "after-state" | "request-in-flight";
export const KILL_PHASES: readonly KillPhase[] = ["after-rank0-batch", "mid-prefetch", "during-weight-change", "after-state", "request-in-flight"];

export interface TrainerReport {
  /** Global digest per step, in step order, up to the step where the data ran out. */
  digests: string[];
  /** Document id → tokens served (each step counted once: re-fetches after a resume are compared, not re-counted). */
  served: Map<number, number>;
  /** Kills done (step, phase) and resumes. */
  kills: { step: number; phase: KillPhase; resumedAt: number }[];
  /** Steps fetched again after a resume and found bit-identical. */
  refetchedIdentical: number;
  /** Feedback re-sent after a resume: answered ok (idempotent) / step_out_of_range (left the window). */
  refeedback: { ok: number; evicted: number };
  weightVersions: number;
  lastWeights: Record<string, number>;
  bytes: number;
}

export interface TrainerOptions {
  serve: ServeProcess;
  world: number;
  /** step → phase: kill the service at that point of that step (each at most once). */
  kills?: Map<number, KillPhase>;
  /** Directory for the trainer's state blob (the last one fetched, written atomically). */
  stateDir: string;
  maxSteps?: number;
  log?: (line: string) => void;
}

/**
 * Train until the data runs out: every step, each rank fetches its batch and sends feedback;
 * then the trainer fetches `state` and keeps it. A planned kill SIGKILLs the service; the
 * trainer restarts it with `--resume <last blob>`, rewinds to the blob's step and goes on.
 */
export async function runTrainer(opt: TrainerOptions): Promise<TrainerReport> {
  const { serve, world } = opt;
  const blobFile = path.join(opt.stateDir, "trainer-state.bin");
  let blobStep: number | null = null;
  const report: TrainerReport = {
    digests: [],
    served: new Map(),
    kills: [],
    refetchedIdentical: 0,
    refeedback: { ok: 0, evicted: 0 },
    weightVersions: 0,
    lastWeights: {},
    bytes: 0,
  };
  const sentFeedback = new Map<number, ReturnType<typeof feedbackFor>[]>();
  const pending = new Map(opt.kills ?? []);
  let { control } = await serve.start();
  const clients = (): MixloadClient[] =>
    Array.from({ length: world }, () => new MixloadClient({ endpoint: control, timeoutMs: 30_000, notReadyWaitMs: 60_000 }));
  let ranks = clients();
  let step = 0;

  const crash = async (phase: KillPhase, inFlight?: Promise<unknown>): Promise<void> => {
    await serve.kill();
    // The request in flight is abandoned with its client (it may re-ask the resumed service:
    // harmless, a batch is a pure function of (step, rank)); the trainer rewinds regardless.
    inFlight?.catch(() => {});
    ranks.forEach((c) => c.close());
    const resumedAt = blobStep ?? 0;
    report.kills.push({ step, phase, resumedAt });
    opt.log?.(`killed at step ${step} (${phase}); resuming at ${resumedAt}`);
    ({ control } = await serve.start(blobStep === null ? undefined : blobFile));
    ranks = clients();
    const hello = await ranks[0].hello(0, world);
    if (hello.next_step !== resumedAt) throw new Error(`resumed service says next_step ${hello.next_step}, the blob was for step ${resumedAt}`);
    // A trainer that does not know what the service kept re-sends its recent feedback: idempotent.
    for (let s = Math.max(0, resumedAt - 4); s < resumedAt; s++) {
      for (const fb of sentFeedback.get(s) ?? []) {
        try {
          await ranks[fb.rank].feedback(fb);
          report.refeedback.ok += 1;
        } catch (e) {
          if (e instanceof MixloadError && e.code === "step_out_of_range") report.refeedback.evicted += 1;
          else throw e;
        }
      }
    }
    step = resumedAt;
  };

  for (; opt.maxSteps === undefined || step < opt.maxSteps;) {
    const kill = pending.get(step);
    const got: ClientBatch[] = [];
    let ended = false;
    let crashed = false;
    for (let r = 0; r < world; r++) {
      if (kill === "request-in-flight" && r === world - 1) {
        pending.delete(step);
        const p = ranks[r].batch(step, r);
        await crash(kill, p);
        crashed = true;
        break;
      }
      try {
        got.push(await ranks[r].batch(step, r));
      } catch (e) {
        if (e instanceof MixloadError && e.code === "step_out_of_range" && /ran out/.test(e.message)) {
          ended = true;
          break;
        }
        throw e;
      }
      if (r === 0 && kill === "after-rank0-batch") {
        pending.delete(step);
        await crash(kill);
        crashed = true;
        break;
      }
    }
    if (crashed) continue;
    if (ended) break;
    if (kill === "mid-prefetch") {
      // The last rank's fetch moved the frontier: the service is building step + prefetch right now.
      pending.delete(step);
      await crash(kill);
      continue;
    }
    const digest = globalDigest(got);
    if (step < report.digests.length) {
      if (report.digests[step] !== digest) throw new Error(`step ${step} after a resume differs from before the kill`);
      report.refetchedIdentical += 1;
    } else {
      report.digests.push(digest);
      for (const b of got) {
        countDocs(b, report.served);
        report.bytes += b.input_ids.byteLength + b.targets.byteLength + b.position_ids.byteLength + b.domain_ids.byteLength + b.cu_seqlens.byteLength;
      }
    }
    report.weightVersions = got[0].weightsVersion;
    report.lastWeights = got[0].weights;
    const fbs = got.map(feedbackFor);
    sentFeedback.set(step, fbs);
    sentFeedback.delete(step - 16);
    for (let r = 0; r < world; r++) {
      const res = await ranks[r].feedback(fbs[r]);
      if (r === world - 1 && !res.complete) throw new Error(`feedback of step ${step} not complete after all ranks`);
    }
    if (kill === "during-weight-change") {
      // The last rank's feedback completed the step: the service folded it, logged and published new weights.
      pending.delete(step);
      await crash(kill);
      continue;
    }
    const st = await ranks[0].state();
    if (st.step !== step + 1) throw new Error(`state after step ${step} resumes at ${st.step}`);
    writeFileAtomic(blobFile, st.state);
    blobStep = st.step;
    if (kill === "after-state") {
      pending.delete(step);
      await crash(kill);
      continue;
    }
    step += 1;
  }
  ranks.forEach((c) => c.close());
  return report;
}

/** Every document served exactly once, whole: served tokens per document == its length. */
export function checkAccounting(corpus: Corpus, served: Map<number, number>): { documents: number; tokens: number[] } {
  const tokens = [0, 0, 0];
  for (const [id, n] of served) {
    const doc = corpus.docs.get(id);
    if (doc === undefined) throw new Error(`served token ${id} belongs to no document`);
    if (n !== doc.length) throw new Error(`document ${id} (domain ${DOMAINS[doc.domain]}): ${n} tokens served, it has ${doc.length}`);
    tokens[doc.domain] += n;
  }
  for (const [id] of corpus.docs) if (!served.has(id)) throw new Error(`document ${id} was never served`);
  tokens.forEach((n, k) => {
    if (n !== corpus.tokensPerDomain[k]) throw new Error(`domain ${DOMAINS[k]}: ${n} tokens served of ${corpus.tokensPerDomain[k]}`);
  });
  return { documents: served.size, tokens };
}

/** `count` distinct kill points over steps [from, to), phases in turn, in random order. */
export function planKills(count: number, from: number, to: number, seed: number): Map<number, KillPhase> {
  const rand = rng(seed);
  const steps = Array.from({ length: to - from }, (_, i) => from + i);
  for (let i = steps.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [steps[i], steps[j]] = [steps[j], steps[i]];
  }
  const plan = new Map<number, KillPhase>();
  steps.slice(0, count).forEach((s, i) => plan.set(s, KILL_PHASES[i % KILL_PHASES.length]));
  return plan;
}

// ---- load ---------------------------------------------------------------------------------

export interface LoadReport {
  ranks: number;
  /** Steps every rank fetched (contiguous from 0). */
  steps: number;
  bytes: number;
  seconds: number;
  /** Service RSS samples (kB), one per second. */
  rss: number[];
  /** Step → global digest, reassembled from the rank shares. */
  digests: string[];
  tokens: number;
}

/**
 * `world` ranks, each in its own async loop: fetch step s, send its feedback, go on to s + 1,
 * as fast as the service answers, until `seconds` have passed. Every (step, rank) is fetched
 * exactly once; the shares are reassembled per step afterwards.
 */
export async function runLoad(serve: ServeProcess, control: string, world: number, seconds: number): Promise<LoadReport> {
  const end = Date.now() + seconds * 1000;
  const t0 = Date.now();
  const shares: ClientBatch[][] = [];
  const digests: string[] = [];
  const rss: number[] = [];
  let bytes = 0;
  let tokens = 0;
  const sampler = setInterval(() => {
    const kb = serve.rssKb();
    if (kb !== null) rss.push(kb);
  }, 1000);
  const fetched = new Array<number>(world).fill(0);
  const rank = async (r: number): Promise<void> => {
    const c = new MixloadClient({ endpoint: control, timeoutMs: 60_000, notReadyWaitMs: 120_000, notReadyPollMs: 1 });
    try {
      for (let s = 0; ; s++) {
        // Stop together: a rank may run at most one step past the slowest, so all reach the same last step.
        if (Date.now() > end && s >= Math.max(...fetched)) break;
        const b = await c.batch(s, r);
        if (b.step !== s || b.rank !== r) throw new Error(`asked (${s}, ${r}), got (${b.step}, ${b.rank})`);
        const row = (shares[s] ??= []);
        row[r] = b;
        if (row.filter(Boolean).length === world) {
          digests[s] = globalDigest(row);
          delete shares[s]; // a long soak keeps digests, not batches
        }
        fetched[r] = s + 1;
        bytes += b.input_ids.byteLength + b.targets.byteLength + b.position_ids.byteLength + b.domain_ids.byteLength + b.cu_seqlens.byteLength;
        tokens += Number(b.header.tokens);
        await c.feedback(feedbackFor(b));
      }
    } finally {
      c.close();
    }
  };
  try {
    await Promise.all(Array.from({ length: world }, (_, r) => rank(r)));
  } finally {
    clearInterval(sampler);
  }
  const steps = Math.min(...fetched);
  for (let s = 0; s < steps; s++) if (digests[s] === undefined) throw new Error(`step ${s}: not every rank received it`);
  digests.length = steps;
  return { ranks: world, steps, bytes, seconds: (Date.now() - t0) / 1000, rss, digests, tokens };
}

/** The `batch` digests the service logged (schedule.jsonl), by step; the last line per step wins. */
export function loggedDigests(runDir: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const line of fs.readFileSync(path.join(runDir, "schedule.jsonl"), "utf8").split("\n")) {
    if (line === "") continue;
    const r = JSON.parse(line) as { type: string; step?: number; digest?: string };
    if (r.type === "batch" && r.step !== undefined && r.digest !== undefined) out.set(r.step, r.digest);
  }
  return out;
}

/** Memory is flat: the late samples' median is within `slackKb` of the early (post-warm-up) median. */
export function rssGrowthKb(rss: readonly number[]): number {
  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)];
  };
  const third = Math.max(1, Math.floor(rss.length / 3));
  return median(rss.slice(-third)) - median(rss.slice(third, 2 * third));
}

export const sha = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

/** Steps from..to−1 on both ranks of a world-2 service, each with its feedback; the global digests. */
export async function train(c: MixloadClient, from: number, to: number): Promise<string[]> {
  const out: string[] = [];
  for (let s = from; s < to; s++) {
    const got = [await c.batch(s, 0), await c.batch(s, 1)];
    out.push(globalDigest(got));
    for (const b of got) await c.feedback(feedbackFor(b));
  }
  return out;
}
