import * as fs from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { openNanoGpt } from "../../src/sources/nanogpt.js";
import { openSource, sourceSpecSchema } from "../../src/sources/index.js";
import { Loader } from "../../src/loader/loader.js";
import { DataError } from "../../src/util/errors.js";
import { loaded, smallBrownConfig } from "../helpers/fixtures.js";
import { asSync, readAll, tempDir } from "./tmp.js";

const tmp = tempDir();

function writeTokens(tokens: number[]): string {
  const file = tmp("train.bin");
  fs.writeFileSync(file, Uint16Array.from(tokens));
  return file;
}

/** Each document's tokens, or the reason it is bad. */
async function docsOf(file: string, eosId: number): Promise<(number[] | string)[]> {
  const src = await openNanoGpt(file, { eosId });
  const docs = readAll(src).map((d) => (d.kind === "tokens" ? Array.from(d.tokens) : d.kind === "bad" ? d.reason : d.kind));
  src.close();
  return docs;
}

describe("nanoGPT source", () => {
  it("splits after each EOS, and concatenating the documents gives back the file (a lone EOS reported as empty)", async () => {
    const eos = 50_256;
    const body = fc.array(
      fc.integer({ min: 0, max: 65_535 }).filter((t) => t !== eos),
      { maxLength: 20 },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(body, { maxLength: 20 }), body, async (complete, tail) => {
        const expected = [...complete.map((d) => [...d, eos]), ...(tail.length > 0 ? [tail] : [])];
        const docs = await docsOf(writeTokens(expected.flat()), eos);
        expect(docs).toEqual(expected.map((d) => (d.length === 1 && d[0] === eos ? "empty_document" : d)));
      }),
      { numRuns: 100 },
    );
  });

  it("finds EOS tokens across read chunks of a large file", async () => {
    // 3M tokens (6 MB) spans two 4 MB chunks; a document every 1000 tokens.
    const tokens = Array.from({ length: 3_000_000 }, (_, i) => (i % 1000 === 999 ? 0 : 1 + (i % 7)));
    const src = await openNanoGpt(writeTokens(tokens), { eosId: 0 });
    expect(src.numDocuments).toBe(3000);
    const doc = src.read(2500);
    expect(doc.kind === "tokens" && doc.tokens.length).toBe(1000);
    expect(doc.kind === "tokens" && Array.from(doc.tokens.subarray(-2))).toEqual([tokens[2_500_998], 0]);
    src.close();
  });

  it("has no documents in an empty file, and rejects an odd byte count", async () => {
    expect(await docsOf(writeTokens([]), 0)).toEqual([]);
    const odd = tmp("odd.bin");
    fs.writeFileSync(odd, Buffer.alloc(5));
    const err = await openNanoGpt(odd, { eosId: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataError);
    expect(err).toMatchObject({ reason: "bad_format", file: odd });
  });
});

describe("nanoGPT source: empty documents, vocabulary, info", () => {
  it("reports two EOS in a row as an empty document, keeping every document boundary", async () => {
    const file = writeTokens([9, 0, 0, 8, 7, 0, 0, 0, 6]);
    const src = await openNanoGpt(file, { eosId: 0 });
    expect(readAll(src)).toEqual([
      { kind: "tokens", tokens: Int32Array.from([9, 0]) },
      { kind: "bad", reason: "empty_document", file, detail: "document 1 is a lone EOS (id 0): an empty text" },
      { kind: "tokens", tokens: Int32Array.from([8, 7, 0]) },
      expect.objectContaining({ reason: "empty_document", detail: expect.stringMatching(/^document 3 /) }),
      expect.objectContaining({ reason: "empty_document", detail: expect.stringMatching(/^document 4 /) }),
      { kind: "tokens", tokens: Int32Array.from([6]) },
    ]);
    src.close();
  });

  it("reports ids at or past the vocabulary size as token_out_of_range", async () => {
    const file = writeTokens([1, 2, 4097, 9, 60_000, 3, 9]);
    const src = await openNanoGpt(file, { eosId: 9, vocabSize: 4098 });
    expect(readAll(src)).toEqual([
      { kind: "tokens", tokens: Int32Array.from([1, 2, 4097, 9]) },
      { kind: "bad", reason: "token_out_of_range", file, detail: "document 1: token id 60000 at position 0 is outside the tokenizer's vocabulary [0, 4098)" },
    ]);
    src.close();
    const viaSpec = asSync(await openSource(sourceSpecSchema.parse({ type: "nanogpt", path: file, eos_id: 9 }), { baseDir: "/", vocabSize: 4098 }));
    expect(viaSpec.read(1)).toMatchObject({ reason: "token_out_of_range" });
    viaSpec.close();
  });

  it("has info and a size+mtime identity", async () => {
    const file = writeTokens([1, 2, 0]);
    fs.utimesSync(file, 1_700_000_000, 1_700_000_000);
    const src = await openNanoGpt(file, { eosId: 0 });
    expect(src.info).toEqual({ format: "nanogpt", files: 1, remote: false, bytes: 6 });
    expect(src.identity).toBe("size=6;mtime=1700000000000");
    src.close();
  });

  it.each(["fail", "skip"] as const)("the loader applies on_error: %s to lone-EOS documents", async (onError) => {
    // GPT-2's EOS id as the separator (inside llama3's vocabulary); documents 1 and 3 are lone EOS tokens.
    const eos = 50_256;
    const file = writeTokens([5, 6, eos, eos, 7, 8, 9, eos, eos, 10, eos]);
    const config = loaded(
      smallBrownConfig({ on_error: onError, on_exhausted: "drop", domains: [{ name: "n", sources: [{ type: "nanogpt", path: file, eos_id: eos }] }] }),
    );
    const loader = await Loader.open(config);
    try {
      const run = async () => {
        while ((await loader.next([1])) !== null);
      };
      if (onError === "fail") {
        await expect(run()).rejects.toThrow(new RegExp(`^${file}: empty_document: document [13] is a lone EOS`));
      } else {
        await run();
        expect(loader.stats().skipped).toEqual({ empty_document: 2 });
        expect(loader.stats().documents).toBe(3);
      }
    } finally {
      await loader.close();
    }
  });
});
