/**
 * `mixload score --config C --method perplexity|density --out DIR`: one score per document of
 * every domain, written as a sidecar per source (select/sidecar.ts) that a domain's
 * `select: {score, scores: DIR, ...}` reads. A gym config (a run config plus `gym`) works too.
 *
 * - perplexity (select/perplexity.ts): under a Kneser–Ney trigram trained on `--reference`'s
 *   documents (the CCNet recipe); field "perplexity", lower is closer to the reference.
 * - density (select/density.ts): the Density sampler's kernel density estimate over hashed n-gram
 *   embeddings, per domain; field "density", higher is more redundant.
 */
import fs from "node:fs";
import path from "node:path";
import { parseConfig, type LoadedConfig } from "../config/load.js";
import { closeDomainSources, openDomainSources } from "../sources/index.js";
import type { DocumentSource } from "../sources/types.js";
import { TokenizerPool } from "../tokenize/pool.js";
import { KneserNeyTrigram } from "../gym/ngram.js";
import { ConfigError } from "../util/errors.js";
import { forEachTokenized } from "../select/documents.js";
import { perplexity, trainOnDocument } from "../select/perplexity.js";
import { DEFAULT_DENSITY, DensitySketch } from "../select/density.js";
import { sidecarPath, writeSidecar } from "../select/sidecar.js";
import { cacheDirOf } from "../sources/decompress-cache.js";

export interface ScoreOptions {
  config: string;
  method: string;
  out: string;
  /** perplexity: the domain the language model is trained on. */
  reference?: string;
  tables?: number;
  bits?: number;
  dims?: number;
  workers?: number;
}

export interface ScoreSummary {
  method: string;
  field: string;
  domains: { name: string; documents: number; scored: number; mean: number; median: number; files: string[] }[];
}

/** A run config, or a gym config with its `gym` section set aside. */
function loadRunConfig(file: string): LoadedConfig {
  let value: unknown;
  try {
    value = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new ConfigError("(file)", `cannot read ${file} as JSON: ${(e as Error).message}`);
  }
  if (typeof value === "object" && value !== null && "gym" in value) delete (value as Record<string, unknown>).gym;
  return { ...parseConfig(value, path.dirname(path.resolve(file)), file), file: path.resolve(file) };
}

function median(xs: Float64Array): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort();
  return s.length === 0 ? NaN : s[s.length >> 1];
}

export async function scoreCommand(options: ScoreOptions): Promise<ScoreSummary> {
  if (options.method !== "perplexity" && options.method !== "density")
    throw new ConfigError("--method", `expected perplexity or density, got "${options.method}"`);
  const { config, baseDir } = loadRunConfig(options.config);
  const names = config.domains.map((d) => d.name);
  if (options.method === "perplexity") {
    if (options.reference === undefined)
      throw new ConfigError("--reference", `perplexity needs the domain its language model is trained on (one of ${names.join(", ")})`);
    if (!names.includes(options.reference)) throw new ConfigError("--reference", `"${options.reference}" is not a domain (${names.join(", ")})`);
  }
  const cacheDir = cacheDirOf(config);
  const pool = new TokenizerPool(
    { path: config.tokenizer.path, configPath: config.tokenizer.config, eos: config.tokenizer.eos, pad: config.tokenizer.pad },
    options.workers ?? config.tokenizer.workers,
    cacheDir,
  );
  let opened: DocumentSource[][] = [];
  try {
    opened = await openDomainSources(config.domains, { baseDir, cacheDir, vocabSize: pool.vocabSize });
    const field = options.method;
    let scoreDomain: (i: number) => Promise<Float64Array>;
    let params: Record<string, unknown>;
    if (options.method === "perplexity") {
      const model = new KneserNeyTrigram(pool.vocabSize);
      await forEachTokenized(opened[names.indexOf(options.reference!)], pool, config.on_error, (_, tokens) => {
        if (tokens !== null) trainOnDocument(model, tokens);
      });
      params = { reference: options.reference, model: "interpolated Kneser-Ney trigram", discount: model.discount };
      scoreDomain = async (i) => {
        const out = new Float64Array(opened[i].reduce((n, s) => n + s.numDocuments, 0));
        await forEachTokenized(opened[i], pool, config.on_error, (id, tokens) => (out[id] = tokens === null ? NaN : perplexity(model, tokens)));
        return out;
      };
    } else {
      const p = { tables: options.tables ?? DEFAULT_DENSITY.tables, bits: options.bits ?? DEFAULT_DENSITY.bits, dims: options.dims ?? DEFAULT_DENSITY.dims };
      params = { ...p, embedding: "hashed token unigrams + bigrams", kernel: `signed random projections, ${p.bits} bits` };
      scoreDomain = async (i) => {
        const sketch = new DensitySketch({ ...p, seed: config.seed });
        await forEachTokenized(opened[i], pool, config.on_error, (_, tokens) => sketch.insert(tokens));
        return sketch.scores();
      };
    }
    const summary: ScoreSummary = { method: options.method, field, domains: [] };
    for (let i = 0; i < names.length; i++) {
      const scores = await scoreDomain(i);
      const files: string[] = [];
      let start = 0;
      opened[i].forEach((source, s) => {
        const file = sidecarPath(options.out, names[i], s);
        writeSidecar(file, source, scores.subarray(start, start + source.numDocuments), { field, method: options.method, params });
        files.push(file);
        start += source.numDocuments;
      });
      let sum = 0;
      let scored = 0;
      for (const x of scores) if (!Number.isNaN(x)) ((sum += x), scored++);
      summary.domains.push({ name: names[i], documents: scores.length, scored, mean: sum / Math.max(1, scored), median: median(scores), files });
    }
    return summary;
  } finally {
    closeDomainSources(opened);
    await pool.close();
  }
}

export function formatScoreSummary(s: ScoreSummary): string {
  const lines = [`${s.method} scores (metadata field "${s.field}"):`];
  for (const d of s.domains)
    lines.push(`  ${d.name}: ${d.scored}/${d.documents} documents scored, mean ${d.mean.toPrecision(4)}, median ${d.median.toPrecision(4)}`);
  return lines.join("\n");
}
