import * as fs from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { openNanoGpt } from "../../src/sources/nanogpt.js";
import { DataError } from "../../src/util/errors.js";
import { readAll, tempDir } from "./tmp.js";

const tmp = tempDir();

function writeTokens(tokens: number[]): string {
  const file = tmp("train.bin");
  fs.writeFileSync(file, Uint16Array.from(tokens));
  return file;
}

async function docsOf(file: string, eosId: number): Promise<number[][]> {
  const src = await openNanoGpt(file, { eosId });
  const docs = readAll(src).map((d) => (d.kind === "tokens" ? Array.from(d.tokens) : []));
  src.close();
  return docs;
}

describe("nanoGPT source", () => {
  it("splits after each EOS, and concatenating the documents gives back the file", async () => {
    const eos = 50_256;
    const body = fc.array(fc.integer({ min: 0, max: 65_535 }).filter((t) => t !== eos), { maxLength: 20 });
    await fc.assert(
      fc.asyncProperty(fc.array(body, { maxLength: 20 }), body, async (complete, tail) => {
        const expected = [...complete.map((d) => [...d, eos]), ...(tail.length > 0 ? [tail] : [])];
        const docs = await docsOf(writeTokens(expected.flat()), eos);
        expect(docs).toEqual(expected);
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
