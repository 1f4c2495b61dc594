/**
 * Remote sources against the same files read locally, over loopback from a real nginx (the tests'
 * helper starts it): the whole loader on the len-600 Megatron corpus (tokens/s after open, as
 * `loader.megatron.len600`), and sources alone (documents/s through readMany in shuffled blocks of
 * 64, parse included, no tokenizer). Loopback has no latency to hide, so the ratio is the cost of
 * HTTP itself. Small files are preloaded (preload.ts), target ≥ 0.7× local; the `.ranges` rows turn
 * preloading off to show what files too large to preload cost: one request per ~64 KiB cluster of
 * documents, ≈ 0.3 ms of CPU each here.
 */
import fs from "node:fs";
import path from "node:path";
import { packStats } from "../src/cli/pack-stats.js";
import { openSource, sourceSpecSchema, type SourceSpecInput } from "../src/sources/index.js";
import { readDocuments } from "../src/sources/types.js";
import { FeistelPermutation } from "../src/sample/permutation.js";
import { startNginx } from "../test/helpers/nginx.js";
import { readTexts } from "../src/sources/text.js";
import { byRatio, type Row } from "./row.js";

export type RemoteRow = Row;

export interface RemoteBenchOptions {
  /** The len-600 config written by run.ts (local Megatron domains). */
  readonly megatronConfig: string;
  readonly cache: string;
  readonly brown: string;
  readonly repeats: number;
  readonly log: (s: string) => void;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export async function benchRemote(o: RemoteBenchOptions): Promise<RemoteRow[]> {
  const rows: RemoteRow[] = [];
  const local = JSON.parse(fs.readFileSync(o.megatronConfig, "utf8"));
  const dataDir = path.dirname(local.domains[0].sources[0].path);
  const jsonlDir = path.join(o.cache, "remote-jsonl");
  const jsonl = path.join(jsonlDir, "brown.jsonl");
  if (!fs.existsSync(jsonl)) {
    fs.mkdirSync(jsonlDir, { recursive: true });
    const texts = await readTexts(o.brown, { glob: "c???", split: "paragraph", transform: "brown_pos" });
    fs.writeFileSync(jsonl, texts.map((text) => JSON.stringify({ text })).join("\n") + "\n");
  }
  const megatronServer = await startNginx(dataDir);
  const jsonlServer = await startNginx(jsonlDir);
  try {
    o.log("remote: whole loader on len-600 Megatron, local files vs nginx over loopback");
    const remoteConfig = path.join(o.cache, "synthetic-600-remote.json");
    const toUrl = (p: string) => `${megatronServer.url}/${path.relative(dataDir, p)}`;
    const remoteDomains = local.domains.map((d: { name: string; sources: { type: string; path: string }[] }) => ({
      ...d,
      sources: d.sources.map((s) => ({ ...s, path: toUrl(s.path) })),
    }));
    fs.writeFileSync(remoteConfig, JSON.stringify({ ...local, domains: remoteDomains }));
    const localRuns: number[] = [];
    const remoteRuns: number[] = [];
    for (let r = 0; r < o.repeats; r++) {
      localRuns.push((await packStats({ config: o.megatronConfig, steps: 300 })).tokens_per_s);
      remoteRuns.push((await packStats({ config: remoteConfig, steps: 300 })).tokens_per_s);
    }
    const [l, rm] = [median(localRuns), median(remoteRuns)];
    rows.push(
      byRatio(
        {
          stage: "remote.loader.megatron.len600",
          value: rm / 1e6,
          unit: "M tokens/s",
          target: "≥ 0.7× local",
          note: `${(rm / l).toFixed(2)}× local (${(l / 1e6).toFixed(1)} M/s); nginx on loopback`,
        },
        { name: "the same files local, M tokens/s", value: l / 1e6 },
        "≥",
        0.7,
      ),
    );

    o.log("remote: documents through readMany (shuffled blocks of 64), local vs nginx, preloaded and by range");
    const rate = async (spec: SourceSpecInput, preloadBytes?: number): Promise<number> => {
      const source = await openSource(sourceSpecSchema.parse(spec), {
        baseDir: jsonlDir,
        cacheDir: path.join(o.cache, "remote-cache"),
        http: { preloadBytes },
      });
      try {
        const order = new FeistelPermutation(source.numDocuments, 12345);
        const t0 = process.hrtime.bigint();
        for (let b = 0; b < source.numDocuments; b += 64) {
          const block: number[] = [];
          for (let p = b; p < Math.min(b + 64, source.numDocuments); p++) block.push(order.permute(p));
          await readDocuments(source, block);
        }
        return source.numDocuments / (Number(process.hrtime.bigint() - t0) / 1e9);
      } finally {
        source.close();
      }
    };
    const web = local.domains[0].sources[0].path as string;
    const cases = [
      {
        stage: "remote.source.jsonl",
        local: { type: "jsonl", path: jsonl },
        remote: { type: "jsonl", path: `${jsonlServer.url}/brown.jsonl` },
        what: "Brown paragraphs (6 MB), preloaded",
      },
      {
        stage: "remote.source.jsonl.ranges",
        local: { type: "jsonl", path: jsonl },
        remote: { type: "jsonl", path: `${jsonlServer.url}/brown.jsonl` },
        preload: 0,
        what: "the same by range requests (as files > 128 MB are)",
      },
      {
        stage: "remote.source.megatron.ranges",
        local: { type: "megatron", path: web },
        remote: { type: "megatron", path: toUrl(web) },
        preload: 0,
        what: "len-600 tokens (16 MB) by range requests (as files > 128 MB are)",
      },
    ] as const;
    for (const c of cases) {
      const localRates: number[] = [];
      const remoteRates: number[] = [];
      for (let r = 0; r < o.repeats; r++) {
        localRates.push(await rate(c.local));
        remoteRates.push(await rate(c.remote, "preload" in c ? c.preload : undefined));
      }
      const [lr, rr] = [median(localRates), median(remoteRates)];
      const row: Row = { stage: c.stage, value: rr / 1e3, unit: "k docs/s", note: `${(rr / lr).toFixed(2)}× local (${(lr / 1e3).toFixed(0)} k/s); ${c.what}` };
      const localAnchor = { name: "the same file local, k docs/s", value: lr / 1e3 };
      // The `.ranges` rows show a cost (no target); they still carry their anchor and ratio.
      rows.push("preload" in c ? { ...row, anchor: localAnchor, ratio: rr / lr } : byRatio({ ...row, target: "≥ 0.7× local" }, localAnchor, "≥", 0.7));
    }
  } finally {
    await megatronServer.stop();
    await jsonlServer.stop();
  }
  return rows;
}
