#!/usr/bin/env node
/**
 * The long version of test/reliability: run it for hours before trusting a release.
 *
 *   npm run build && node scripts/soak.mjs --hours 2 [--kills 40] [--load-seconds 600] [--ranks 8]
 *
 * Repeats rounds until the time is up; each round
 *   1. kill/resume: a fresh synthetic corpus (a new seed each round), an uninterrupted DoReMi
 *      run as reference, then the same run with `--kills` SIGKILLs at random steps and phases,
 *      resumed from the trainer's last state blob: the stream must be bit-identical and every
 *      document served exactly once;
 *   2. load: `--ranks` ranks pull and send feedback flat out for `--load-seconds`: every step
 *      to every rank, each equal to the service's logged digest, RSS sampled (growth reported).
 * Prints the table of test/reliability's note at the end (and after each round with --verbose).
 * Exit code 1 on the first broken invariant.
 */
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";

const root = path.resolve(import.meta.dirname, "..");
const harnessPath = path.join(root, "dist/test/reliability/harness.js");
if (!fs.existsSync(harnessPath)) {
  process.stderr.write("soak: dist/ is missing; run `npm run build` first\n");
  process.exit(2);
}
const h = await import(harnessPath);

const { values: o } = parseArgs({
  options: {
    hours: { type: "string", default: "1" },
    kills: { type: "string", default: "40" },
    "load-seconds": { type: "string", default: "300" },
    ranks: { type: "string", default: "8" },
    docs: { type: "string", default: "300" },
    verbose: { type: "boolean", default: false },
  },
});
const deadline = Date.now() + Number(o.hours) * 3600e3;
const killsPerRound = Number(o.kills);
const docs = Number(o.docs);
if (docs > 990) throw new Error("--docs: at most 990 documents per domain");

const totals = {
  rounds: 0,
  kills: 0,
  phases: new Map(),
  steps: 0,
  documents: 0,
  refetched: 0,
  refeedback: 0,
  loadSteps: 0,
  loadBytes: 0,
  loadSeconds: 0,
  rssGrowthMaxKb: 0,
  rssMaxKb: 0,
};

function table() {
  const phases = [...totals.phases].map(([k, n]) => `${k} ${n}`).join(", ");
  const rows = [
    ["faults injected / survived", `${totals.kills} / ${totals.kills} SIGKILLs (${phases})`],
    ["stream after resume", `${totals.steps} steps bit-identical to uninterrupted runs, ${totals.refetched} re-fetched steps identical`],
    ["accounting", `${totals.documents} documents served exactly once (on_exhausted: drop, run to the end)`],
    ["feedback re-sent after resume", `${totals.refeedback} (idempotent or step_out_of_range, never invalid)`],
    [
      "load held",
      `${o.ranks} ranks × ${totals.loadSteps} steps × ${(totals.loadBytes / 2 ** 20).toFixed(0)} MB in ${totals.loadSeconds.toFixed(0)} s; lost 0, duplicated 0`,
    ],
    [
      "memory",
      `service RSS max ${(totals.rssMaxKb / 1024).toFixed(0)} MB, worst late-vs-mid growth in a round ${(totals.rssGrowthMaxKb / 1024).toFixed(1)} MB`,
    ],
  ];
  const w = Math.max(...rows.map((r) => r[0].length));
  return [`mixload soak: ${totals.rounds} round(s)`, ...rows.map(([a, b]) => `  ${a.padEnd(w)}  ${b}`)].join("\n");
}

for (let round = 0; totals.rounds === 0 || Date.now() < deadline; round++) {
  const dir = h.tempDir("mixload-soak-");
  const corpus = h.writeCorpus(dir, [docs, Math.round(docs * 0.7), Math.round(docs * 0.85)], 500, 1000 + round);
  const ref = new h.ServeProcess(h.writeConfig(dir, corpus, "ref"));
  const reference = await h.runTrainer({ serve: ref, world: 2, stateDir: dir });
  await ref.stop();
  h.checkAccounting(corpus, reference.served);

  const kills = h.planKills(Math.min(killsPerRound, reference.digests.length), 0, reference.digests.length, 77 + round);
  const killed = new h.ServeProcess(h.writeConfig(dir, corpus, "killed"));
  const run = await h.runTrainer({ serve: killed, world: 2, stateDir: dir, kills, log: o.verbose ? (l) => process.stderr.write(`  ${l}\n`) : undefined });
  await killed.stop();
  if (JSON.stringify(run.digests) !== JSON.stringify(reference.digests))
    throw new Error(`round ${round}: the resumed stream differs from the uninterrupted one`);
  const acc = h.checkAccounting(corpus, run.served);

  const runDir = path.join(dir, "load-run");
  const load = new h.ServeProcess(
    h.writeConfig(dir, corpus, "load", { world: Number(o.ranks), on_exhausted: "repeat" }, { run_dir: runDir, keep_steps: 16, prefetch: 4 }),
  );
  const { control } = await load.start();
  const lr = await h.runLoad(load, control, Number(o.ranks), Number(o["load-seconds"]));
  await load.stop();
  const logged = h.loggedDigests(runDir);
  for (let s = 0; s < lr.steps; s++)
    if (lr.digests[s] !== logged.get(s)) throw new Error(`round ${round}: load step ${s} differs from the digest the service logged`);
  if (new Set(lr.digests).size !== lr.steps) throw new Error(`round ${round}: a step was served twice`);

  totals.rounds += 1;
  totals.kills += run.kills.length;
  for (const k of run.kills) totals.phases.set(k.phase, (totals.phases.get(k.phase) ?? 0) + 1);
  totals.steps += run.digests.length;
  totals.refetched += run.refetchedIdentical;
  totals.refeedback += run.refeedback.ok + run.refeedback.evicted;
  totals.documents += acc.documents;
  totals.loadSteps += lr.steps;
  totals.loadBytes += lr.bytes;
  totals.loadSeconds += lr.seconds;
  if (lr.rss.length >= 3) totals.rssGrowthMaxKb = Math.max(totals.rssGrowthMaxKb, h.rssGrowthKb(lr.rss));
  totals.rssMaxKb = Math.max(totals.rssMaxKb, ...lr.rss);
  fs.rmSync(dir, { recursive: true, force: true });
  process.stderr.write(
    `round ${round}: ${run.kills.length} kills, ${run.digests.length} steps identical, ${acc.documents} documents once; load ${lr.steps} steps × ${o.ranks} ranks, RSS ${lr.rss
      .map((x) => Math.round(x / 1024))
      .filter((_, i, a) => i % Math.ceil(a.length / 8) === 0)
      .join(" ")} MB\n`,
  );
  if (o.verbose) process.stderr.write(`${table()}\n`);
}
process.stdout.write(`${table()}\n`);
