/**
 * Load: 8 ranks pull batches and send feedback as fast as the service answers, for a bounded
 * time. No step lost (every rank got every step, contiguous), none duplicated or altered (each
 * reassembled step equals the digest the service logged when it built it), memory flat.
 */
import fs from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { loggedDigests, rssGrowthKb, runLoad, ServeProcess, tempDir, writeConfig, writeCorpus } from "./harness.js";

const SECONDS = Number(process.env.MIXLOAD_LOAD_SECONDS ?? 20);
const dir = tempDir();
let serve: ServeProcess | undefined;

afterAll(async () => {
  await serve?.kill();
});

describe("load", () => {
  it(`8 ranks × as many steps as ${SECONDS} s allow: no lost step, no duplicate, memory flat`, async () => {
    const corpus = writeCorpus(dir, [200, 150, 180], 400);
    const runDir = `${dir}/load-run`;
    serve = new ServeProcess(writeConfig(dir, corpus, "load", { world: 8, on_exhausted: "repeat" }, { run_dir: runDir, keep_steps: 16, prefetch: 4 }));
    const { control } = await serve.start();
    const r = await runLoad(serve, control, 8, SECONDS);
    await serve.stop();
    expect(r.steps).toBeGreaterThan(20);
    const logged = loggedDigests(runDir);
    for (let s = 0; s < r.steps; s++) expect(r.digests[s], `step ${s}`).toBe(logged.get(s));
    expect(new Set(r.digests).size).toBe(r.steps); // no step served twice under another number
    const growth = rssGrowthKb(r.rss);
    expect(growth).toBeLessThan(32 * 1024);
    const line =
      `load: ${r.ranks} ranks × ${r.steps} steps × ${(r.bytes / 2 ** 20).toFixed(1)} MB (${r.tokens} tokens) in ${r.seconds.toFixed(1)} s, ` +
      `${Math.round((r.steps * r.ranks) / r.seconds)} rank-batches/s, RSS ${Math.round(r.rss[0] / 1024)} → ${Math.round(r.rss[r.rss.length - 1] / 1024)} MB (late − mid median ${Math.round(growth / 1024)} MB)`;
    console.log(line);
    fs.writeFileSync(`${dir}/load.txt`, `${line}\n`);
  }, 180_000);
});
