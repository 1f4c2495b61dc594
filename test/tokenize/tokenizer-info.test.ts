/**
 * tokenizerInfo's cache: vocab size / EOS / pad without parsing tokenizer.json when the files
 * are unchanged; an edited file, other eos/pad overrides or a damaged entry mean a fresh parse.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadTokenizer, tokenizerInfo } from "../../src/tokenize/tokenizer.js";
import { ConfigError } from "../../src/util/errors.js";
import { LLAMA3 } from "../helpers/fixtures.js";

function copyLlama3(dir: string): { path: string; configPath: string } {
  const files = { path: path.join(dir, "tokenizer.json"), configPath: path.join(dir, "tokenizer_config.json") };
  fs.copyFileSync(path.join(LLAMA3, "tokenizer.json"), files.path);
  fs.copyFileSync(path.join(LLAMA3, "tokenizer_config.json"), files.configPath);
  return files;
}

const entries = (cache: string): string[] => fs.readdirSync(path.join(cache, "tokenizer-info")).map((f) => path.join(cache, "tokenizer-info", f));

describe("tokenizerInfo", () => {
  it("answers like the parsed tokenizer, from the cache entry while the files are unchanged", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mixload-tkinfo-"));
    const cache = path.join(dir, "cache");
    const files = copyLlama3(dir);
    const parsed = loadTokenizer(files);
    const truth = { vocabSize: parsed.vocabSize, eosId: parsed.eosId, padId: parsed.padId };
    expect(truth.vocabSize).toBe(128256);

    expect(tokenizerInfo(files, cache)).toEqual(truth); // miss: parsed, entry written
    const [entry] = entries(cache);
    expect(JSON.parse(fs.readFileSync(entry, "utf8"))).toEqual(truth);

    // The entry is what a hit returns (proof that nothing was parsed): plant other numbers.
    fs.writeFileSync(entry, JSON.stringify({ vocabSize: 7, eosId: 1, padId: 2 }));
    expect(tokenizerInfo(files, cache)).toEqual({ vocabSize: 7, eosId: 1, padId: 2 });

    // An edited tokenizer.json (new mtime) misses and is parsed again.
    const later = new Date(Date.now() + 5000);
    fs.utimesSync(files.path, later, later);
    expect(tokenizerInfo(files, cache)).toEqual(truth);
    expect(entries(cache)).toHaveLength(2);

    // eos/pad overrides are part of the key.
    expect(tokenizerInfo({ ...files, pad: "<|reserved_special_token_2|>" }, cache)).toEqual({ ...truth, padId: 128004 });

    // A damaged entry is ignored and rewritten.
    for (const e of entries(cache)) fs.writeFileSync(e, '{"vocabSize": -1');
    expect(tokenizerInfo(files, cache)).toEqual(truth);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("a missing tokenizer file is a ConfigError naming the field, cache or not", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mixload-tkinfo-"));
    for (const cache of [undefined, path.join(dir, "cache")]) {
      const e = (() => {
        try {
          tokenizerInfo({ path: path.join(dir, "nope.json") }, cache);
        } catch (x) {
          return x;
        }
      })();
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).path).toBe("tokenizer.path");
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
