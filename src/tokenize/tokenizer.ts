/**
 * One HF `tokenizer.json` (+ optional `tokenizer_config.json`) loaded with @huggingface/tokenizers.
 *
 * Documents are encoded without the model's special-token template (no BOS from the
 * post-processor) and with the EOS id appended, so document boundaries survive packing and
 * the same ids come out whether a document is tokenized here or read back from a
 * pre-tokenized `.bin` written by `mixload tokenize`.
 */
import fs from "node:fs";
import { Tokenizer } from "@huggingface/tokenizers";
import { ConfigError } from "../util/errors.js";

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
  decode(ids: ArrayLike<number>): string;
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
const parsed = new Map<string, { json: Record<string, unknown>; config: Record<string, unknown>; tokenizer: Tokenizer }>();

function parse(files: TokenizerFiles): { json: Record<string, unknown>; config: Record<string, unknown>; tokenizer: Tokenizer } {
  const key = `${files.path}\0${files.configPath ?? ""}`;
  let entry = parsed.get(key);
  if (entry === undefined) {
    const json = readJson(files.path, "tokenizer.path");
    const config = files.configPath === undefined ? {} : readJson(files.configPath, "tokenizer.config");
    entry = { json, config, tokenizer: new Tokenizer(json, config) };
    parsed.set(key, entry);
  }
  return entry;
}

export function loadTokenizer(files: TokenizerFiles): LoadedTokenizer {
  const { json, config, tokenizer } = parse(files);

  // Vocabulary size = one past the largest id, counting added tokens (they may lie past the model vocab).
  let vocabSize = 0;
  const model = json.model as { vocab?: Record<string, number> | [string, number][] } | undefined;
  const vocab = model?.vocab;
  if (Array.isArray(vocab)) vocabSize = vocab.length;
  else if (vocab !== undefined) for (const id of Object.values(vocab)) vocabSize = Math.max(vocabSize, id + 1);
  for (const added of (json.added_tokens as { id: number }[] | undefined) ?? []) vocabSize = Math.max(vocabSize, added.id + 1);

  const idOf = (token: string | undefined, field: string): number => {
    if (token === undefined) throw new ConfigError(field, "no such token: set it in the config or in tokenizer_config.json");
    const id = tokenizer.token_to_id(token);
    if (id === undefined || id === null) throw new ConfigError(field, `token ${JSON.stringify(token)} is not in ${files.path}`);
    return id;
  };
  const eosId = idOf(files.eos ?? tokenString(config.eos_token), "tokenizer.eos");
  const padToken = files.pad ?? tokenString(config.pad_token);
  const padId = padToken === undefined ? eosId : idOf(padToken, "tokenizer.pad");

  return {
    vocabSize,
    eosId,
    padId,
    encode(text: string): Int32Array {
      const ids = tokenizer.encode(text, { add_special_tokens: false }).ids;
      const out = new Int32Array(ids.length + 1);
      for (let i = 0; i < ids.length; i++) out[i] = ids[i];
      out[ids.length] = eosId;
      return out;
    },
    decode(ids: ArrayLike<number>): string {
      return tokenizer.decode(Array.from(ids), { skip_special_tokens: false });
    },
  };
}
