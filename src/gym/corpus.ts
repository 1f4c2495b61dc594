/**
 * The gym's corpus, tokenized once per run: every training domain's documents (in source
 * order, the doc id being the position in that order), every explicit held-out set and the
 * target set, each read through the loader's own sources and tokenizer (EOS appended, as in
 * training). Mixers and seeds then reuse these ids: a seed only re-splits them (split.ts).
 * Bad documents follow `on_error` (fail, or skip and count).
 */
import type { DomainConfig } from "../config/schema.js";
import type { GymConfig } from "./config.js";
import { closeDomainSources, openDomainSources, openSource } from "../sources/index.js";
import { cacheDirOf } from "../sources/decompress-cache.js";
import { badDocumentError, readDocuments } from "../sources/types.js";
import { TokenizerPool } from "../tokenize/pool.js";
import { ConfigError } from "../util/errors.js";
import { openSelections } from "../select/open.js";

export interface TokenizedDomain {
  readonly name: string;
  readonly docs: Int32Array[];
  /** Bad documents skipped under on_error = "skip". */
  readonly skipped: number;
  /** With the domain's `select` policy or top-level `dedup`: 1 where the selection keeps docs[j] (only the proxy's train part is filtered, split.ts). */
  readonly kept?: Uint8Array;
}

export interface GymCorpus {
  /** Training domains, config order. */
  readonly domains: TokenizedDomain[];
  /** gym.heldout entries by domain name (documents from other files, never split). */
  readonly heldout: Map<string, TokenizedDomain>;
  /** gym.target: the out-of-domain held-out set (DoGE's target mode), or null. */
  readonly target: TokenizedDomain | null;
}

const BLOCK = 256;

/** `keep`: the loader's selection of this domain (`keptMasks`) over its document ids, or undefined for all. */
export async function readDomain(g: GymConfig, domain: DomainConfig, pool: TokenizerPool, keep?: Uint8Array): Promise<TokenizedDomain> {
  const { config, baseDir } = g.loaded;
  const cacheDir = cacheDirOf(config);
  const docs: Int32Array[] = [];
  /** Each doc's id in the domain's index space (what a selection keeps). */
  const ids: number[] = [];
  let base = 0;
  let skipped = 0;
  for (const spec of domain.sources) {
    const source = await openSource(spec, { baseDir, cacheDir, vocabSize: pool.vocabSize });
    try {
      for (let start = 0; start < source.numDocuments; start += BLOCK) {
        const end = Math.min(source.numDocuments, start + BLOCK);
        const indices = Array.from({ length: end - start }, (_, k) => start + k);
        // Tokens and texts keep their source order: texts are encoded in one call, then slotted back.
        const read = await readDocuments(source, indices);
        const texts: string[] = [];
        for (const doc of read) if (doc.kind === "text") texts.push(doc.text);
        const encoded = texts.length > 0 ? await pool.encode(texts) : [];
        let t = 0;
        read.forEach((doc, k) => {
          if (doc.kind === "bad") {
            if (config.on_error === "fail") throw badDocumentError(doc);
            skipped += 1;
            return;
          }
          docs.push(doc.kind === "tokens" ? doc.tokens : encoded[t++]);
          ids.push(base + indices[k]);
        });
      }
      base += source.numDocuments;
    } finally {
      source.close();
    }
  }
  if (docs.length === 0) throw new ConfigError(`domain "${domain.name}"`, "has no documents");
  if (keep === undefined) return { name: domain.name, docs, skipped };
  return { name: domain.name, docs, skipped, kept: Uint8Array.from(ids, (id) => keep[id]) };
}

/**
 * What the loader would serve of each training domain: its `select` policy and the top-level
 * `dedup` across all domains, through the loader's own `openSelections` (so the same cached dedup
 * result and the same keep decisions), as a 0/1 mask over the domain's document ids; undefined
 * for a domain that keeps everything.
 */
async function keptMasks(g: GymConfig, vocabSize: number): Promise<(Uint8Array | undefined)[]> {
  const { config, baseDir } = g.loaded;
  if (config.dedup === undefined && config.domains.every((d) => d.select === undefined)) return config.domains.map(() => undefined);
  const sources = await openDomainSources(config.domains, { baseDir, cacheDir: cacheDirOf(config), vocabSize });
  try {
    const selections = await openSelections(g.loaded, sources);
    return selections.map((selection, i) => {
      if (selection === null) return undefined;
      const keep = new Uint8Array(sources[i].reduce((n, s) => n + s.numDocuments, 0));
      for (const id of selection.kept) keep[id] = 1;
      return keep;
    });
  } finally {
    closeDomainSources(sources);
  }
}

export async function readCorpus(g: GymConfig, pool: TokenizerPool): Promise<GymCorpus> {
  const domains: TokenizedDomain[] = [];
  const masks = await keptMasks(g, pool.vocabSize);
  for (const [i, d] of g.loaded.config.domains.entries()) domains.push(await readDomain(g, d, pool, masks[i]));
  const heldout = new Map<string, TokenizedDomain>();
  for (const h of g.gym.heldout) heldout.set(h.name, await readDomain(g, h, pool));
  const target = g.gym.target ? await readDomain(g, g.gym.target, pool) : null;
  return { domains, heldout, target };
}

/**
 * The gym's corpus, read and tokenized once per run on a pool of its own (every mixer and seed
 * then reuses it), with the tokenizer's vocabulary size and the cache folder the run writes to.
 */
export async function tokenizeCorpus(g: GymConfig, workers?: number): Promise<{ corpus: GymCorpus; vocab: number; cacheDir: string }> {
  const { config } = g.loaded;
  const cacheDir = cacheDirOf(config);
  const pool = new TokenizerPool(
    { path: config.tokenizer.path, configPath: config.tokenizer.config, eos: config.tokenizer.eos, pad: config.tokenizer.pad },
    workers ?? config.tokenizer.workers,
    cacheDir,
  );
  try {
    return { corpus: await readCorpus(g, pool), vocab: pool.vocabSize, cacheDir };
  } finally {
    await pool.close();
  }
}

export function tokenCount(docs: readonly Int32Array[]): number {
  let n = 0;
  for (const d of docs) n += d.length;
  return n;
}
