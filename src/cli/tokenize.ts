/**
 * `mixload tokenize`: pre-tokenize every domain of a config to Megatron `.bin/.idx`, in source
 * order, EOS appended, so a later run reads tokens instead of text (the Megatron source gives
 * back exactly the ids the text source would have produced). Also writes `manifest.json` with
 * exact token counts and a `domains` config fragment pointing at the new files.
 */
import fs from "node:fs";
import path from "node:path";
import { loadConfig } from "../config/load.js";
import { openSource, MegatronWriter } from "../sources/index.js";
import { badDocumentError, readDocuments, type DocumentSource } from "../sources/types.js";
import { TokenizerPool } from "../tokenize/pool.js";
import { DataError } from "../util/errors.js";
import { writeFileAtomic } from "../util/atomic-file.js";
import { cacheDirOf } from "../sources/decompress-cache.js";

/** Documents per tokenizer request, and requests kept in flight (enough to keep every worker busy). */
const BLOCK = 256;
const IN_FLIGHT = 8;

export interface TokenizeSummary {
  domains: { name: string; documents: number; tokens: number; skipped: Record<string, number>; prefix: string }[];
  vocab_size: number;
  eos_id: number;
}

function safeFileName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, "_");
}

export async function tokenizeCommand(options: { config: string; out: string; workers?: number }): Promise<void> {
  const { config, baseDir } = loadConfig(options.config);
  fs.mkdirSync(options.out, { recursive: true });
  const pool = new TokenizerPool(
    { path: config.tokenizer.path, configPath: config.tokenizer.config, eos: config.tokenizer.eos, pad: config.tokenizer.pad },
    options.workers ?? config.tokenizer.workers,
  );
  const summary: TokenizeSummary = { domains: [], vocab_size: pool.vocabSize, eos_id: pool.eosId };
  try {
    for (const domain of config.domains) {
      const prefix = path.join(options.out, safeFileName(domain.name));
      const writer = new MegatronWriter(prefix, { vocabSize: pool.vocabSize });
      const entry = { name: domain.name, documents: 0, tokens: 0, skipped: {} as Record<string, number>, prefix: path.basename(prefix) };
      for (const spec of domain.sources) {
        const cacheDir = cacheDirOf(config);
        const source = await openSource(spec, { baseDir, cacheDir, vocabSize: pool.vocabSize });
        try {
          await tokenizeSource(
            source,
            pool,
            config.on_error,
            (tokens) => {
              writer.add(tokens);
              entry.documents += 1;
              entry.tokens += tokens.length;
            },
            entry.skipped,
          );
        } finally {
          source.close();
        }
      }
      writer.finish();
      summary.domains.push(entry);
      process.stderr.write(`${domain.name}: ${entry.documents} documents, ${entry.tokens} tokens\n`);
    }
  } finally {
    await pool.close();
  }
  const fragment = summary.domains.map((d) => ({ name: d.name, sources: [{ type: "megatron", path: path.resolve(options.out, d.prefix) }] }));
  writeFileAtomic(path.join(options.out, "manifest.json"), `${JSON.stringify({ ...summary, config_fragment: { domains: fragment } }, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

/** Tokenize one source in order, keeping several blocks in flight on the pool. */
async function tokenizeSource(
  source: DocumentSource,
  pool: TokenizerPool,
  onError: "fail" | "skip",
  emit: (tokens: Int32Array) => void,
  skipped: Record<string, number>,
): Promise<void> {
  const pending: Promise<(Int32Array | null)[]>[] = [];
  const request = async (start: number): Promise<(Int32Array | null)[]> => {
    const end = Math.min(source.numDocuments, start + BLOCK);
    const indices = Array.from({ length: end - start }, (_, k) => start + k);
    const slots: (Int32Array | string | null)[] = [];
    for (const doc of await readDocuments(source, indices)) {
      if (doc.kind === "bad") {
        if (onError === "fail") throw badDocumentError(doc);
        skipped[doc.reason] = (skipped[doc.reason] ?? 0) + 1;
        slots.push(null);
      } else slots.push(doc.kind === "text" ? doc.text : doc.tokens);
    }
    const texts = slots.filter((s): s is string => typeof s === "string");
    const ids = await pool.encode(texts);
    let t = 0;
    return slots.map((s) => (typeof s === "string" ? ids[t++] : s));
  };
  let next = 0;
  while (next < source.numDocuments || pending.length > 0) {
    while (pending.length < IN_FLIGHT && next < source.numDocuments) {
      const block = request(next);
      block.catch(() => undefined);
      pending.push(block);
      next = Math.min(source.numDocuments, next + BLOCK);
    }
    const docs = await pending.shift()!;
    for (const d of docs) if (d !== null) emit(d);
  }
}
