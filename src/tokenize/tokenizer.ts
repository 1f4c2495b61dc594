/**
 * One HF `tokenizer.json` (+ optional `tokenizer_config.json`) loaded with @huggingface/tokenizers.
 *
 * Documents are encoded without the model's special-token template (no BOS from the
 * post-processor) and with the EOS id appended, so document boundaries survive packing and
 * the same ids come out whether a document is tokenized here or read back from a
 * pre-tokenized `.bin` written by `mixload tokenize`.
 *
 * Encoding goes through a pre-token → ids cache (cached-encoder.ts) that gives the library's ids
 * at several times its speed; tokenizers it cannot serve exactly use the library directly.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { writeFileAtomic } from "../util/atomic-file.js";
import { ConfigError } from "../util/errors.js";
import { VERSION } from "../version.js";
import { CachedEncoder, type EncodedBatch } from "./cached-encoder.js";
import { PieceTable } from "./piece-table.js";

/** Where the tokenizer files are and which special tokens to use. Paths are absolute here. */
export interface TokenizerFiles {
  readonly path: string;
  readonly configPath?: string;
  /** EOS token string; default: tokenizer_config.json's `eos_token`. */
  readonly eos?: string;
  /** Padding token string; default: tokenizer_config.json's `pad_token`, else EOS. */
  readonly pad?: string;
}

export interface TokenizerInfo {
  readonly vocabSize: number;
  readonly eosId: number;
  readonly padId: number;
}

export interface LoadedTokenizer extends TokenizerInfo {
  /** Token ids of `text` followed by EOS. */
  encode(text: string): Int32Array;
  /** Each text's ids followed by EOS, concatenated, with end offsets (one buffer per batch). */
  encodeBatch(texts: readonly string[]): EncodedBatch;
  /** "cached", or why the plain library is used (the tokenizer's shape, or `cache: false`). */
  readonly encoder: string;
  /** The cache's lookups so far (benchmarks): hits on pieces this thread stored, on pieces another worker stored, model runs; null on the plain path. */
  cacheStats(): { hits: number; shared: number; misses: number } | null;
  decode(ids: ArrayLike<number>): string;
}

export interface LoadOptions {
  /** Use the pre-token cache when the tokenizer allows it. Default true; false = the plain library (benchmarks, tests). */
  readonly cache?: boolean;
  /** Parse the files anew instead of sharing this thread's copy and cache (benchmarks: a cold cache). */
  readonly fresh?: boolean;
  /**
   * A pool's piece table (piece-table.ts), the cache of this thread's encoder when it is built
   * here: workers encode each distinct piece about once between them instead of once each.
   */
  readonly pieceTable?: SharedArrayBuffer;
}

function readJson(file: string, field: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new ConfigError(field, `cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new ConfigError(field, `${file} is not valid JSON: ${(e as Error).message}`);
  }
}

/** A special token in tokenizer_config.json is either a string or an AddedToken object `{content}`. */
function tokenString(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (value !== null && typeof value === "object" && typeof (value as { content?: unknown }).content === "string") {
    return (value as { content: string }).content;
  }
  return undefined;
}

/**
 * Parsed tokenizers by file, per thread: a tokenizer.json can be megabytes (llama3: 9 MB, ~1 s to
 * parse) and is immutable, so loaders, tools and tests in one process share one copy.
 */
interface Parsed {
  json: Record<string, unknown>;
  config: Record<string, unknown>;
  /**
   * The library's tokenizer, built on first use: building it costs seconds and ~200 MB for llama3,
   * and a run over pre-tokenized data only needs vocab size, EOS and pad, which the JSON gives.
   */
  tokenizer?: Tokenizer;
  /**
   * The thread's one cache for this tokenizer (shared by every loader in the thread), built on the
   * first encode: a pool's main thread, which only answers vocab questions, never builds one.
   */
  cached?: CachedEncoder;
}
const parsed = new Map<string, Parsed>();

function parse(files: TokenizerFiles, fresh = false): Parsed {
  if (fresh)
    return { json: readJson(files.path, "tokenizer.path"), config: files.configPath === undefined ? {} : readJson(files.configPath, "tokenizer.config") };
  const key = `${files.path}\0${files.configPath ?? ""}`;
  let entry = parsed.get(key);
  if (entry === undefined) {
    const json = readJson(files.path, "tokenizer.path");
    const config = files.configPath === undefined ? {} : readJson(files.configPath, "tokenizer.config");
    entry = { json, config };
    parsed.set(key, entry);
  }
  return entry;
}

function library(entry: Parsed): Tokenizer {
  return (entry.tokenizer ??= new Tokenizer(entry.json, entry.config));
}

/** A token's id from the JSON alone (added tokens, then the model vocabulary), else from the library. */
function tokenId(entry: Parsed, token: string): number | undefined {
  for (const added of (entry.json.added_tokens as { id: number; content: string }[] | undefined) ?? []) {
    if (added.content === token) return added.id;
  }
  const vocab = (entry.json.model as { vocab?: unknown } | undefined)?.vocab;
  if (vocab !== null && typeof vocab === "object" && !Array.isArray(vocab)) {
    const id = (vocab as Record<string, unknown>)[token];
    if (typeof id === "number") return id;
  }
  const id = library(entry).token_to_id(token);
  return id === null ? undefined : id;
}

export function loadTokenizer(files: TokenizerFiles, options: LoadOptions = {}): LoadedTokenizer {
  const entry = parse(files, options.fresh);
  const { json, config } = entry;

  // Vocabulary size = one past the largest id, counting added tokens (they may lie past the model vocab).
  let vocabSize = 0;
  const model = json.model as { vocab?: Record<string, number> | [string, number][] } | undefined;
  const vocab = model?.vocab;
  if (Array.isArray(vocab)) vocabSize = vocab.length;
  else if (vocab !== undefined) for (const id of Object.values(vocab)) vocabSize = Math.max(vocabSize, id + 1);
  for (const added of (json.added_tokens as { id: number }[] | undefined) ?? []) vocabSize = Math.max(vocabSize, added.id + 1);

  const idOf = (token: string | undefined, field: string): number => {
    if (token === undefined) throw new ConfigError(field, "no such token: set it in the config or in tokenizer_config.json");
    const id = tokenId(entry, token);
    if (id === undefined) throw new ConfigError(field, `token ${JSON.stringify(token)} is not in ${files.path}`);
    return id;
  };
  const eosId = idOf(files.eos ?? tokenString(config.eos_token), "tokenizer.eos");
  const padToken = files.pad ?? tokenString(config.pad_token);
  const padId = padToken === undefined ? eosId : idOf(padToken, "tokenizer.pad");

  const plainEncode = (text: string): Int32Array => {
    const ids: number[] = library(entry).encode(text, { add_special_tokens: false }).ids;
    const out = new Int32Array(ids.length + 1);
    for (let i = 0; i < ids.length; i++) out[i] = ids[i];
    out[ids.length] = eosId;
    return out;
  };
  // Whether the cache can serve this tokenizer exactly is decided on first use, with the library.
  let why: string | null | undefined;
  const reason = (): string | null => (why ??= options.cache === false ? "cache disabled" : CachedEncoder.unsupported(library(entry)));
  const cached = (): CachedEncoder =>
    (entry.cached ??= CachedEncoder.create(library(entry), { table: options.pieceTable && new PieceTable(options.pieceTable) }) as CachedEncoder);

  return {
    vocabSize,
    eosId,
    padId,
    get encoder(): string {
      const r = reason();
      return r === null ? "cached" : `plain: ${r}`;
    },
    encode: (text) => (reason() === null ? cached().encode(text, eosId) : plainEncode(text)),
    cacheStats: () => (reason() === null ? { hits: cached().hits, shared: cached().sharedHits, misses: cached().misses } : null),
    encodeBatch(texts: readonly string[]): EncodedBatch {
      if (reason() === null) return cached().encodeBatch(texts, eosId);
      const docs = texts.map(plainEncode);
      const ends = new Int32Array(docs.length);
      let total = 0;
      docs.forEach((d, i) => (ends[i] = total += d.length));
      const ids = new Int32Array(total);
      docs.forEach((d, i) => ids.set(d, ends[i] - d.length));
      return { ids, ends };
    },
    decode(ids: ArrayLike<number>): string {
      return library(entry).decode(Array.from(ids), { skip_special_tokens: false });
    },
  };
}

/** Identity of a file for the info cache: path, size, mtime (ns), inode. An edited file gets a new key. */
function fileIdentity(file: string, field: string): string {
  let st: fs.BigIntStats;
  try {
    st = fs.statSync(file, { bigint: true });
  } catch (e) {
    throw new ConfigError(field, `cannot read ${file}: ${(e as Error).message}`);
  }
  return `${path.resolve(file)}\0${st.size}\0${st.mtimeNs}\0${st.ino}`;
}

function isInfo(x: unknown): x is TokenizerInfo {
  const o = x as Partial<TokenizerInfo> | null;
  return o !== null && typeof o === "object" && [o.vocabSize, o.eosId, o.padId].every((v) => Number.isSafeInteger(v) && (v as number) >= 0);
}

/**
 * Vocabulary size, EOS and pad ids, from a small cache file when there is one.
 *
 * A run over pre-tokenized data needs only these three numbers, but finding them means parsing
 * tokenizer.json (llama3: 9 MB, ~0.3 s and ~100 MB of heap per thread that parses it), which
 * dominated `serve --resume`. So the answer is kept in `cacheDir`, keyed by both files'
 * identity (path, size, mtime, inode) and the eos/pad overrides; an edited file misses and is
 * parsed again. A damaged cache entry is ignored and rewritten; without `cacheDir`, no cache.
 */
export function tokenizerInfo(files: TokenizerFiles, cacheDir?: string): TokenizerInfo {
  if (cacheDir === undefined) return pick(loadTokenizer(files));
  const key = createHash("sha256")
    .update(
      JSON.stringify([
        `mixload ${VERSION} tokenizer info`, // a new release re-derives: how vocab/EOS/pad are found may change
        fileIdentity(files.path, "tokenizer.path"),
        files.configPath === undefined ? null : fileIdentity(files.configPath, "tokenizer.config"),
        files.eos ?? null,
        files.pad ?? null,
      ]),
    )
    .digest("hex");
  const file = path.join(cacheDir, "tokenizer-info", `${key}.json`);
  try {
    const hit: unknown = JSON.parse(fs.readFileSync(file, "utf8"));
    if (isInfo(hit)) return pick(hit);
  } catch {
    // no entry yet, or a damaged one: parse and (re)write it below
  }
  const info = pick(loadTokenizer(files));
  try {
    // Write-then-rename: threads and processes may race to write the same entry.
    fs.mkdirSync(path.dirname(file), { recursive: true });
    writeFileAtomic(file, JSON.stringify(info));
  } catch {
    // An unwritable cache only costs the parse next time.
  }
  return info;
}

const pick = (t: TokenizerInfo): TokenizerInfo => ({ vocabSize: t.vocabSize, eosId: t.eosId, padId: t.padId });
