/**
 * The pre-token cache gives exactly the ids of the plain library: on all of Brown (and those
 * equal native Rust HF tokenizers' ids), and on random Unicode text for llama3 and for
 * tokenizer shapes that take the other branches (ByteLevel with its own regex, Metaspace keyed
 * by section, added tokens with lstrip/rstrip, a normalizer, split regexes with empty matches).
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Tokenizer } from "@huggingface/tokenizers";
import { Tokenizer as NativeTokenizer } from "@anush008/tokenizers";
import { CachedEncoder } from "../../src/tokenize/cached-encoder.js";
import { loadTokenizer } from "../../src/tokenize/tokenizer.js";
import { PieceTable } from "../../src/tokenize/piece-table.js";
import { brownParagraphs, LLAMA3 } from "../helpers/fixtures.js";

const llama3Json = JSON.parse(fs.readFileSync(path.join(LLAMA3, "tokenizer.json"), "utf8")) as Record<string, unknown>;
const llama3Config = JSON.parse(fs.readFileSync(path.join(LLAMA3, "tokenizer_config.json"), "utf8")) as Record<string, unknown>;

function plainIds(tokenizer: Tokenizer, text: string): number[] {
  // Undefined ids (no unk token) become 0 in an Int32Array, as in the cached path.
  return Array.from(Int32Array.from(tokenizer.encode(text, { add_special_tokens: false }).ids as number[]));
}

/** `slots`: a small piece table that fills up early, so that later pieces take the model each time. */
function cachedEncoder(tokenizer: Tokenizer, slots?: number): CachedEncoder {
  const encoder = CachedEncoder.create(tokenizer, {
    table: slots === undefined ? undefined : new PieceTable(PieceTable.allocate({ slots, arenaBytes: 1 << 16 })),
  });
  if (typeof encoder === "string") throw new Error(`no cache: ${encoder}`);
  return encoder;
}

/** Text that stresses pre-tokenization: mixed scripts, emoji, whitespace runs, digits, contractions, added tokens. */
const piece = fc.oneof(
  fc.constantFrom(" ", "  ", "\t", "\n", "\r\n", "\n\n", " \n ", "\u00a0", "\u3000", "\u2028", "\ufeff"),
  fc.constantFrom("'s", "'T", "'re", "'VE", "'m", "'ll", "'d", "'", '"', "--", "...", "?!"),
  fc.constantFrom("<|end_of_text|>", "<|begin_of_text|>", "<|", "|>", "<|eot_id|>", "<|reserved_special_token_5|>"),
  fc.stringMatching(/^[0-9]{1,7}$/),
  fc.stringMatching(/^[A-Za-z]{1,9}$/),
  fc.integer({ min: 0x4e00, max: 0x9fff }).map((c) => String.fromCodePoint(c)), // CJK
  fc.integer({ min: 0x1f300, max: 0x1faff }).map((c) => String.fromCodePoint(c)), // emoji
  fc.constantFrom("e\u0301", "\u{1f469}\u200d\u{1f4bb}", "\u{1f1eb}\u{1f1f7}", "ß", "İ", "ﬁ", "Ω", "\u0663"),
  fc.string({ unit: "binary", maxLength: 4 }), // any code point, lone surrogates included
  fc.string({ unit: "grapheme", maxLength: 6 }),
);
const text = fc.array(piece, { maxLength: 40 }).map((parts) => parts.join(""));

describe("CachedEncoder on llama3", () => {
  const tokenizer = new Tokenizer(llama3Json, llama3Config);

  it("gives the plain library's ids, and native HF tokenizers' ids, on every Brown paragraph", async () => {
    const texts = await brownParagraphs("c[a-r][0-9][0-9]");
    expect(texts.length).toBeGreaterThan(15_000);
    const encoder = cachedEncoder(tokenizer);
    expect(encoder.missPath).toBe("ids");
    const native = NativeTokenizer.fromFile(path.join(LLAMA3, "tokenizer.json"));
    const nativeDocs = await native.encodeBatch(texts, { addSpecialTokens: false });
    let tokens = 0;
    for (let i = 0; i < texts.length; i++) {
      const cached = Array.from(encoder.encode(texts[i]));
      expect(cached, texts[i]).toEqual(plainIds(tokenizer, texts[i]));
      expect(cached, texts[i]).toEqual(nativeDocs[i].getIds());
      tokens += cached.length;
    }
    expect(tokens).toBeGreaterThan(1_200_000);
    // Zipf: most pieces are cache hits even on one pass over a fresh cache.
    expect(encoder.hits / (encoder.hits + encoder.misses)).toBeGreaterThan(0.9);
  }, 240_000); // the plain library and native over 1.27 M tokens: slow on a loaded machine

  it("gives the plain library's ids on random Unicode text, when the piece table is full", () => {
    const encoder = cachedEncoder(tokenizer, 64);
    fc.assert(
      fc.property(text, (s) => {
        expect(Array.from(encoder.encode(s))).toEqual(plainIds(tokenizer, s));
      }),
      { numRuns: 1000 },
    );
  });

  it("encodes a batch as the concatenation of its documents, each followed by the appended id", () => {
    const encoder = cachedEncoder(tokenizer);
    fc.assert(
      fc.property(fc.array(text, { maxLength: 8 }), (texts) => {
        const { ids, ends } = encoder.encodeBatch(texts, 128001);
        let start = 0;
        texts.forEach((s, i) => {
          expect(Array.from(ids.subarray(start, ends[i]))).toEqual([...plainIds(tokenizer, s), 128001]);
          start = ends[i];
        });
        expect(start).toBe(ids.length);
      }),
      { numRuns: 200 },
    );
  });

  it("is what loadTokenizer uses, and cache: false is the plain library with the same ids", () => {
    const files = { path: path.join(LLAMA3, "tokenizer.json"), configPath: path.join(LLAMA3, "tokenizer_config.json") };
    const cached = loadTokenizer(files);
    const plain = loadTokenizer(files, { cache: false });
    expect(cached.encoder).toBe("cached");
    expect(plain.encoder).toBe("plain: cache disabled");
    const texts = ["Hello world", "", "x<|end_of_text|>y  z\n\n12345"];
    expect(cached.encodeBatch(texts)).toEqual(plain.encodeBatch(texts));
    for (const s of texts) expect(cached.encode(s)).toEqual(plain.encode(s));
  });
});

/** llama3's vocabulary and merges under another pipeline: not a meaningful tokenizer, but a real code path. */
function variant(overrides: Record<string, unknown>): Tokenizer {
  return new Tokenizer({ ...llama3Json, ...overrides }, llama3Config);
}

const model = llama3Json.model as Record<string, unknown>;
const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false };
const split = (regex: string) => ({ type: "Split", pattern: { Regex: regex }, behavior: "Isolated", invert: false });
const addedTokens = llama3Json.added_tokens as Record<string, unknown>[];

describe("CachedEncoder on other pipeline shapes", () => {
  const shapes: Record<string, () => Tokenizer> = {
    "GPT-2 style ByteLevel with its own regex and a prefix space": () =>
      variant({ pre_tokenizer: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true }, model: { ...model, ignore_merges: false } }),
    "a split regex with empty matches and gaps": () => variant({ pre_tokenizer: { type: "Sequence", pretokenizers: [split("a*|\\d"), byteLevel] } }),
    "a split regex that leaves a trailing gap": () => variant({ pre_tokenizer: { type: "Sequence", pretokenizers: [split("\\p{L}+"), byteLevel] } }),
    "deepseek_v3's chained splits (digit runs, CJK runs, words), run inline": () => {
      const deepseek = path.join(LLAMA3, "../../tokenizer-deepseek_v3/models/tokenizer.json");
      return variant({ pre_tokenizer: (JSON.parse(fs.readFileSync(deepseek, "utf8")) as Record<string, unknown>).pre_tokenizer });
    },
    "chained split regexes with empty matches and trailing gaps at every level": () =>
      variant({ pre_tokenizer: { type: "Sequence", pretokenizers: [split("\\s*|x"), split("a*|\\d"), split("\\p{L}+"), byteLevel] } }),
    "a split, then a Removed split (not inline), then ByteLevel": () =>
      variant({ pre_tokenizer: { type: "Sequence", pretokenizers: [split("\\d+"), { ...split("\\s+"), behavior: "Removed" }, byteLevel] } }),
    "Metaspace (prepend first) after the split: keyed by section": () =>
      variant({
        pre_tokenizer: { type: "Sequence", pretokenizers: [split("\\s+"), { type: "Metaspace", replacement: "Ġ", prepend_scheme: "first", split: false }] },
      }),
    "added tokens with lstrip / rstrip, a normalizer and a normalized added token": () =>
      variant({
        normalizer: { type: "NFKC" },
        added_tokens: [
          { ...addedTokens[0], lstrip: true, rstrip: true },
          { ...addedTokens[1], rstrip: true },
          { id: 128002, content: "ﬁx", single_word: false, lstrip: false, rstrip: false, normalized: true, special: false },
          ...addedTokens.slice(3),
        ],
      }),
    "no pre-tokenizer": () => variant({ pre_tokenizer: null }),
    "a vocabulary without some merge results and parts": () => {
      const vocab = { ...(model.vocab as Record<string, number>) };
      for (const token of ["Ġthe", "he", "in", "Ġa", "er", "ing", "12", "Ã¤"]) delete vocab[token];
      return variant({ model: { ...model, vocab, ignore_merges: false } });
    },
  };
  for (const [name, build] of Object.entries(shapes)) {
    it(`${name}: same ids as the plain library`, () => {
      const tokenizer = build();
      const encoder = cachedEncoder(tokenizer, 64);
      expect(encoder.missPath).toBe(/split regex|chained split|added tokens|vocabulary without|GPT-2/.test(name) ? "ids" : "library");
      fc.assert(
        fc.property(text, (s) => {
          expect(Array.from(encoder.encode(s))).toEqual(plainIds(tokenizer, s));
        }),
        { numRuns: 300 },
      );
    });
  }

  it("declines tokenizers it cannot serve exactly (loadTokenizer then uses the plain library)", () => {
    expect(CachedEncoder.create(variant({ model: { ...model, fuse_unk: true } }))).toMatch(/fuse_unk/); // no unk token to fuse on
    expect(
      CachedEncoder.create(
        variant({
          post_processor: {
            type: "TemplateProcessing",
            single: [{ Sequence: { id: "A", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
            pair: [],
            special_tokens: {},
          },
        }),
      ),
    ).toMatch(/post-processor/);
  });
});

describe("CachedEncoder on SentencePiece-style BPE (llama2's vocabulary and merges)", () => {
  const dir = path.join(LLAMA3, "../../tokenizer-llama2/models");
  const json = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8")) as Record<string, unknown>;
  const config = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8")) as Record<string, unknown>;
  const spModel = json.model as Record<string, unknown>;
  // Unknown characters are frequent without byte fallback: runs of unk must fuse across the cuts.
  const shapes: Record<string, () => Tokenizer> = {
    "as shipped (byte fallback, fuse_unk, no pre-tokenizer)": () => new Tokenizer(json, config),
    "without byte fallback: unk runs fused across pieces": () => new Tokenizer({ ...json, model: { ...spModel, byte_fallback: false } }, config),
    "a Metaspace pre-tokenizer (prepend first) instead of the normalizer": () =>
      new Tokenizer({ ...json, normalizer: null, pre_tokenizer: { type: "Metaspace", replacement: "▁", prepend_scheme: "first", split: true } }, config),
  };
  const spText = fc
    .array(fc.oneof(piece, fc.constantFrom("▁", "▁▁", "  x", "\n\n", "中文字", "🦙", "\u{10ffff}", "�")), { maxLength: 40 })
    .map((parts) => parts.join(""));
  for (const [name, build] of Object.entries(shapes)) {
    it(`${name}: same ids as the plain library, when the piece table is full`, () => {
      const tokenizer = build();
      const encoder = cachedEncoder(tokenizer, 64);
      expect(encoder.missPath).toBe("ids");
      fc.assert(
        fc.property(spText, (s) => {
          expect(Array.from(encoder.encode(s))).toEqual(plainIds(tokenizer, s));
        }),
        { numRuns: 600 },
      );
    });
  }
});
