/**
 * The gym's corpus, tokenized once per run: every training domain's documents (in source
 * order, the doc id being the position in that order), every explicit held-out set and the
 * target set, each read through the loader's own sources and tokenizer (EOS appended, as in
 * training). Mixers and seeds then reuse these ids: a seed only re-splits them (split.ts).
 * Bad documents follow `on_error` (fail, or skip and count).
 */
import os from "node:os";
import path from "node:path";
import type { DomainConfig } from "../config/schema.js";
import type { GymConfig } from "./config.js";
import { openSource } from "../sources/index.js";
import { badDocumentError, readDocuments } from "../sources/types.js";
import type { TokenizerPool } from "../tokenize/pool.js";
import { ConfigError } from "../util/errors.js";

export interface TokenizedDomain {
  readonly name: string;
  readonly docs: Int32Array[];
  /** Bad documents skipped under on_error = "skip". */
  readonly skipped: number;
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

export async function readDomain(g: GymConfig, domain: DomainConfig, pool: TokenizerPool): Promise<TokenizedDomain> {
  const { config, baseDir } = g.loaded;
  const cacheDir = config.cache_dir ?? path.join(os.tmpdir(), "mixload-cache");
  const docs: Int32Array[] = [];
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
        for (const doc of read) {
          if (doc.kind === "bad") {
            if (config.on_error === "fail") throw badDocumentError(doc);
            skipped += 1;
          } else docs.push(doc.kind === "tokens" ? doc.tokens : encoded[t++]);
        }
      }
    } finally {
      source.close();
    }
  }
  if (docs.length === 0) throw new ConfigError(`domain "${domain.name}"`, "has no documents");
  return { name: domain.name, docs, skipped };
}

export async function readCorpus(g: GymConfig, pool: TokenizerPool): Promise<GymCorpus> {
  const domains: TokenizedDomain[] = [];
  for (const d of g.loaded.config.domains) domains.push(await readDomain(g, d, pool));
  const heldout = new Map<string, TokenizedDomain>();
  for (const h of g.gym.heldout) heldout.set(h.name, await readDomain(g, h, pool));
  const target = g.gym.target ? await readDomain(g, g.gym.target, pool) : null;
  return { domains, heldout, target };
}

export function tokenCount(docs: readonly Int32Array[]): number {
  let n = 0;
  for (const d of docs) n += d.length;
  return n;
}
