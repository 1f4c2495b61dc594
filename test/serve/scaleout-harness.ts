/**
 * Scale-out harness (docs/scale-out.md): a `mixload leader` child process and node services
 * (`mixload serve --node I --nodes N --leader E`, reliability harness's ServeProcess), and a
 * lockstep trainer whose rank r talks to the node that serves it. Each step every rank fetches
 * its share and sends its feedback (reliability harness feedbackFor: a pure function of the
 * batch), then the trainer takes every node's state blob and keeps it. Hooks between steps
 * kill and restart nodes or the leader.
 */
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { MixloadClient, type ClientBatch } from "../../src/client/client.js";
import { writeFileAtomic } from "../../src/util/atomic-file.js";
import { CLI, countDocs, globalDigest, ServeProcess, shapedFeedback, sleep } from "../reliability/harness.js";

/**
 * Feedback that is a pure function of the batch with a skewed excess loss so DoReMi moves, in
 * dyadic values (multiples of 1/64): per-rank values then sum exactly however the rows are split
 * into ranks, so a run resumed with another world receives the same per-step aggregate — as a
 * real trainer's would up to its own float noise, which the test must not confuse with ours.
 */
export function dyadicFeedback(b: ClientBatch) {
  return shapedFeedback(b, { base: 0.046875, high: 0.375, low: 0.1875 });
}

/** A free loopback TCP port (the leader must come back on the same one after a kill). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** `mixload leader` as a child process: ServeProcess's start (waits for "listening"), kill -9 and stop. */
export class LeaderProcess extends ServeProcess {
  constructor(
    config: string,
    readonly nodes: number,
    readonly control: string,
    readonly weights: string,
    readonly runDir: string,
  ) {
    super(config, ["--nodes", String(nodes), "--control", control, "--weights", weights, "--run-dir", runDir], "leader");
  }

  get stateFile(): string {
    return path.join(this.runDir, "leader-state.bin");
  }
}

/** Node service I of N under `leader`, its trainer endpoints ipc sockets in `dir`, its run dir `dir/<name>-node-I`. */
export function nodeProcess(config: string, dir: string, name: string, index: number, count: number, leader: string, resume: string[] = []): ServeProcess {
  const args = ["--node", String(index), "--nodes", String(count), "--leader", leader];
  args.push("--control", `ipc://${dir}/${name}-n${index}-control.sock`, "--weights", `ipc://${dir}/${name}-n${index}-weights.sock`);
  args.push("--run-dir", path.join(dir, `${name}-node-${index}`));
  for (const r of resume) args.push("--resume", r);
  return new ServeProcess(config, args);
}

export interface NodeTrainerReport {
  /** Global digest per step from `from` on. */
  digests: string[];
  served: Map<number, number>;
  refetchedIdentical: number;
  lastWeights: Record<string, number>;
  weightVersions: number;
}

export interface TrainerContext {
  /** SIGKILL node i and restart it from its last blob; the trainer rewinds every rank to that step. */
  killNode(i: number): Promise<number>;
  /** Wait until every node has heard that the leader folded `step` (stats.folded_step). */
  folded(step: number): Promise<void>;
  /** Documents served so far (a copy). */
  served(): Map<number, number>;
}

export interface NodeTrainerOptions {
  world: number;
  nodes: ServeProcess[];
  stateDir: string;
  from?: number;
  maxSteps?: number;
  /** Called after each step (feedback sent, blobs kept); may kill things. Returns a step to rewind to, if any. */
  after?: (step: number, ctx: TrainerContext) => Promise<number | void>;
  /** Called once every rank fetched `step`, before any feedback of it; may kill things and rewind. */
  mid?: (step: number, ctx: TrainerContext) => Promise<number | void>;
}

/** Blob of node i resuming at `step`, as the trainer kept it. */
export const blobFile = (dir: string, i: number, step: number): string => path.join(dir, `node-${i}-at-${step}.bin`);

export async function runNodeTrainer(opt: NodeTrainerOptions): Promise<NodeTrainerReport> {
  const { world, nodes } = opt;
  const per = world / nodes.length;
  const controls: string[] = [];
  for (const n of nodes) controls.push((await n.start()).control);
  const client = (i: number) => new MixloadClient({ endpoint: controls[i], timeoutMs: 30_000, notReadyWaitMs: 60_000, notReadyPollMs: 2 });
  let ranks = Array.from({ length: world }, (_, r) => client(Math.floor(r / per)));
  const lastBlob = new Array<number | null>(nodes.length).fill(null);
  const from = opt.from ?? 0;
  const report: NodeTrainerReport = { digests: [], served: new Map(), refetchedIdentical: 0, lastWeights: {}, weightVersions: 0 };
  const ctx: TrainerContext = {
    killNode: async (i) => {
      await nodes[i].kill();
      const at = lastBlob[i] ?? from;
      controls[i] = (await nodes[i].start(lastBlob[i] === null ? undefined : blobFile(opt.stateDir, i, at))).control;
      ranks.forEach((c) => c.close());
      ranks = Array.from({ length: world }, (_, r) => client(Math.floor(r / per)));
      return at;
    },
    folded: async (s) => {
      for (let i = 0; i < nodes.length; i++) {
        const end = Date.now() + 30_000;
        // stats' folded_step: an extension field (docs/PROTOCOL.md, "Other header fields").
        while (((await ranks[i * per].stats()) as unknown as { folded_step: number }).folded_step < s) {
          if (Date.now() > end) throw new Error(`node ${i} did not hear of the fold of step ${s} within 30 s`);
          await sleep(5);
        }
      }
    },
    served: () => new Map(report.served),
  };
  let step = from;
  try {
    while (opt.maxSteps === undefined || step < opt.maxSteps) {
      const got: ClientBatch[] = [];
      let ended = false;
      for (let r = 0; r < world; r++) {
        try {
          got.push(await ranks[r].batch(step, r));
        } catch (e) {
          if (/ran out/.test((e as Error).message)) {
            ended = true;
            break;
          }
          throw e;
        }
      }
      // A node whose lanes ran out serves padding; the run ends where one service's data runs out: every row empty.
      if (ended || got.every((b) => Number(b.header.tokens) === 0)) break;
      const digest = globalDigest(got);
      const k = step - from;
      if (k < report.digests.length) {
        if (report.digests[k] !== digest) throw new Error(`step ${step} after a restart differs from before`);
        report.refetchedIdentical += 1;
      } else {
        report.digests.push(digest);
        for (const b of got) countDocs(b, report.served);
      }
      const rewindMid = await opt.mid?.(step, ctx);
      if (typeof rewindMid === "number") {
        step = rewindMid;
        continue;
      }
      report.lastWeights = got[0].weights;
      report.weightVersions = got[0].weightsVersion;
      for (let r = 0; r < world; r++) await ranks[r].feedback(dyadicFeedback(got[r]));
      for (let i = 0; i < nodes.length; i++) {
        const st = await ranks[i * per].state();
        if (st.step !== step + 1) throw new Error(`node ${i}: state after step ${step} resumes at ${st.step}`);
        writeFileAtomic(blobFile(opt.stateDir, i, st.step), st.state);
        lastBlob[i] = st.step;
      }
      const rewind = await opt.after?.(step, ctx);
      step = typeof rewind === "number" ? rewind : step + 1;
    }
  } finally {
    ranks.forEach((c) => c.close());
  }
  return report;
}

/** The weights and feedback lines of a run dir's schedule.jsonl, last line per (type, step) as replay reads them, without `t`. */
export function scheduleLines(runDir: string): string[] {
  const last = new Map<string, string>();
  for (const line of fs.readFileSync(path.join(runDir, "schedule.jsonl"), "utf8").split("\n")) {
    if (line === "") continue;
    const r = JSON.parse(line) as { type: string; step?: number; effective_step?: number; t?: number };
    if (r.type !== "weights" && r.type !== "feedback") continue;
    delete r.t;
    last.set(`${r.type}:${r.type === "weights" ? r.effective_step : r.step}`, JSON.stringify(r));
  }
  return [...last.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([, v]) => v);
}
