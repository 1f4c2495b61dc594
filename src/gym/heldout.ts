/**
 * Held-out sets: per training domain, documents from files the training stream never reads
 * (gym.heldout names different files of the same genre), tokenized once per run with the
 * training tokenizer (EOS appended, as in training). Every learner is evaluated on exactly
 * these ids.
 */
import os from "node:os";
import path from "node:path";
import type { GymConfig } from "./config.js";
import { openSource } from "../sources/index.js";
import { badDocumentError, readDocuments } from "../sources/types.js";
import { TokenizerPool } from "../tokenize/pool.js";
import { ConfigError, DataError } from "../util/errors.js";

export interface HeldoutSet {
  /** Per training domain (config order): its held-out documents. */
  readonly docs: Int32Array[][];
  readonly tokens: number[];
}

const BLOCK = 256;

export async function tokenizeHeldout(g: GymConfig, pool: TokenizerPool): Promise<HeldoutSet> {
  const { config, baseDir } = g.loaded;
  const cacheDir = config.cache_dir ?? path.join(os.tmpdir(), "mixload-cache");
  const docs: Int32Array[][] = [];
  for (const [i, domain] of config.domains.entries()) {
    const entry = g.gym.heldout.find((h) => h.name === domain.name);
    if (!entry) throw new ConfigError("gym.heldout", `no held-out set for domain "${domain.name}" (domains[${i}])`);
    const out: Int32Array[] = [];
    for (const spec of entry.sources) {
      const source = await openSource(spec, { baseDir, cacheDir, vocabSize: pool.vocabSize });
      try {
        for (let start = 0; start < source.numDocuments; start += BLOCK) {
          const texts: string[] = [];
          const end = Math.min(source.numDocuments, start + BLOCK);
          const indices = Array.from({ length: end - start }, (_, k) => start + k);
          for (const doc of await readDocuments(source, indices)) {
            if (doc.kind === "bad") {
              if (config.on_error === "fail") throw badDocumentError(doc);
            } else if (doc.kind === "tokens") out.push(doc.tokens);
            else texts.push(doc.text);
          }
          if (texts.length > 0) out.push(...(await pool.encode(texts)));
        }
      } finally {
        source.close();
      }
    }
    if (out.length === 0) throw new ConfigError(`gym.heldout`, `held-out set of "${domain.name}" is empty`);
    docs.push(out);
  }
  return { docs, tokens: docs.map((ds) => ds.reduce((a, d) => a + d.length, 0)) };
}
