/**
 * The private parts of `@huggingface/tokenizers` that the cached encoder replays, in one place.
 *
 * cached-encoder.ts gives the library's exact ids by calling the library's own objects (its
 * splitters, normalizer, pre-tokenizer steps and model) in the order of `Tokenizer.encode_text`,
 * and by knowing how its BPE merges (byte-level-bpe.ts). None of that is public API, so the
 * dependency is pinned to the exact version identity was verified on (package.json), and
 * `internalsProblems` checks at runtime that every field used has the shape it had then.
 * test/tokenize/library-internals.test.ts fails loudly when either changes.
 */
import * as hf from "@huggingface/tokenizers";

/** The library version whose `encode_text` and `BPE.bpe` the cached encoder reproduces. */
export const VERIFIED_LIBRARY_VERSION = "0.2.0";

// The library's .d.ts files use extension-less re-exports that do not resolve under NodeNext, so
// its classes are typed here, as far as mixload uses them.
type Class = abstract new (...args: never[]) => object;
export const lib = hf as unknown as Record<
  | "BPE"
  | "ByteLevelPreTokenizer"
  | "WordPiece"
  | "SplitPreTokenizer"
  | "SequencePreTokenizer"
  | "MetaspacePreTokenizer"
  | "ByteLevelPostProcessor"
  | "BertProcessingPostProcessor"
  | "RobertaProcessingPostProcessor"
  | "TemplateProcessingPostProcessor"
  | "SequencePostProcessor",
  Class
>;

/** What a step of the pre-tokenizer looks like at runtime (the library's classes). */
export interface PreTokenizerStep {
  pre_tokenize(text: string[], options?: { section_index?: number }): string[];
  pre_tokenize_text(text: string, options?: { section_index?: number }): string[];
}

export interface SequenceStep extends PreTokenizerStep {
  tokenizers: (PreTokenizerStep | null)[];
}

export interface SplitStep extends PreTokenizerStep {
  pattern: RegExp | null;
  config: { invert?: boolean; behavior?: string };
}

export interface Splitter {
  trie: Record<string, unknown>;
  split(text: string): string[];
}

export interface AddedTokenLike {
  readonly id: number;
  readonly lstrip: boolean;
  readonly rstrip: boolean;
}

/** The library's BPE / WordPiece model as far as it is read (BPE.encode, TokenizerModel._call). */
export type ModelInternals = ((tokens: string[]) => string[]) & {
  tokens_to_ids: Map<string, number>;
  unk_token_id?: number;
  unk_token?: string | null;
  fuse_unk: boolean;
};

/** Fields of the library's Tokenizer that its .d.ts marks private. */
export interface TokenizerInternals {
  normalizer: ((text: string) => string) | null;
  pre_tokenizer: (PreTokenizerStep & ((text: string, options: { section_index: number }) => string[])) | null;
  model: ModelInternals;
  post_processor: unknown;
  splitter_unnormalized: Splitter;
  splitter_normalized: Splitter;
  added_tokens_map: Map<string, AddedTokenLike>;
  remove_space?: boolean;
  do_lowercase_and_remove_accent: boolean;
}

const isFunctionOrNull = (x: unknown) => x === null || typeof x === "function";

/**
 * What differs from the shapes the cached encoder was verified against (empty: nothing).
 * Checked once per tokenizer, before any cache is built.
 */
export function internalsProblems(tokenizer: object): string[] {
  const t = tokenizer as Partial<Record<keyof TokenizerInternals, unknown>>;
  const problems: string[] = [];
  const need = (ok: boolean, what: string) => {
    if (!ok) problems.push(what);
  };
  for (const name of [
    "BPE",
    "ByteLevelPreTokenizer",
    "WordPiece",
    "SplitPreTokenizer",
    "SequencePreTokenizer",
    "MetaspacePreTokenizer",
    "TemplateProcessingPostProcessor",
    "SequencePostProcessor",
  ] as const) {
    need(typeof lib[name] === "function", `export ${name} is not a class`);
  }
  for (const name of ["splitter_unnormalized", "splitter_normalized"] as const) {
    const s = t[name] as Partial<Splitter> | undefined;
    need(typeof s?.split === "function" && s.trie !== null && typeof s.trie === "object", `${name} is not a DictionarySplitter {trie, split}`);
  }
  need(t.added_tokens_map instanceof Map, "added_tokens_map is not a Map");
  need(isFunctionOrNull(t.normalizer), "normalizer is neither a function nor null");
  need(isFunctionOrNull(t.pre_tokenizer), "pre_tokenizer is neither a function nor null");
  need(typeof t.do_lowercase_and_remove_accent === "boolean", "do_lowercase_and_remove_accent is not a boolean");
  const model = t.model as Partial<ModelInternals & Record<string, unknown>> | undefined;
  need(typeof model === "function", "model is not callable");
  need(model?.tokens_to_ids instanceof Map, "model.tokens_to_ids is not a Map");
  need(typeof model?.fuse_unk === "boolean", "model.fuse_unk is not a boolean");
  if (model instanceof lib.BPE) {
    const bpe = model as Record<string, unknown>;
    const merges = bpe.merges as unknown[];
    need(Array.isArray(merges) && (merges.length === 0 || Array.isArray(merges[0])), "BPE.merges is not an array of pairs");
    need(typeof bpe.ignore_merges === "boolean" && typeof bpe.byte_fallback === "boolean", "BPE.ignore_merges / byte_fallback are not booleans");
    need(typeof bpe.bpe === "function", "BPE.bpe is not a method");
  }
  return problems;
}
