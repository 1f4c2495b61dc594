import * as fs from "node:fs";
import * as path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MegatronWriter, openMegatron } from "../../src/sources/megatron.js";
import { openSource, sourceSpecSchema } from "../../src/sources/index.js";
import { Loader } from "../../src/loader/loader.js";
import { DataError } from "../../src/util/errors.js";
import { loaded, smallBrownConfig } from "../helpers/fixtures.js";
import { asSync, readAll, tempDir } from "./tmp.js";

const tmp = tempDir();

function tokensOf(src: { numDocuments: number; read(i: number): unknown }): number[][] {
  return readAll(src).map((d) => {
    const doc = d as { kind: string; tokens?: Int32Array };
    if (doc.kind !== "tokens" || !doc.tokens) throw new Error(`unexpected ${JSON.stringify(d)}`);
    return Array.from(doc.tokens);
  });
}

function write(prefix: string, docs: number[][], vocabSize: number): MegatronWriter {
  const w = new MegatronWriter(prefix, { vocabSize });
  for (const d of docs) w.add(Int32Array.from(d));
  w.finish();
  return w;
}

/** Build an .idx by hand, field by field, so the reader is checked against the format and not against our writer. */
function idxBytes(o: { magic?: string; version?: bigint; dtype: number; lengths: number[]; pointers: number[]; docs: number[] }): Buffer {
  const header = Buffer.alloc(34);
  header.write(o.magic ?? "MMIDIDX\0\0", 0, "latin1");
  header.writeBigUInt64LE(o.version ?? 1n, 9);
  header.writeUInt8(o.dtype, 17);
  header.writeBigUInt64LE(BigInt(o.lengths.length), 18);
  header.writeBigUInt64LE(BigInt(o.docs.length), 26);
  const i64 = (xs: number[]) => Buffer.from(BigInt64Array.from(xs.map(BigInt)).buffer);
  return Buffer.concat([header, Buffer.from(Int32Array.from(o.lengths).buffer), i64(o.pointers), i64(o.docs)]);
}

describe("MegatronWriter → openMegatron", () => {
  it("round-trips random documents in both dtypes", async () => {
    const vocab = fc.constantFrom(256, 50_257, 65_536, 65_537, 128_256);
    const docs = (v: number) => fc.array(fc.array(fc.integer({ min: 0, max: v - 1 }), { maxLength: 40 }), { maxLength: 25 });
    await fc.assert(
      fc.asyncProperty(
        vocab.chain((v) => fc.tuple(fc.constant(v), docs(v))),
        async ([v, ds]) => {
          const prefix = tmp("rt");
          const w = write(prefix, ds, v);
          expect(w.dtype).toBe(v <= 65_536 ? 8 : 4);
          expect(fs.readFileSync(`${prefix}.idx`)[17]).toBe(w.dtype);
          const src = await openMegatron(prefix, { vocabSize: v });
          expect(src.numDocuments).toBe(ds.length);
          // Empty documents are reported, not served (and not dropped: the count is unchanged).
          const got = readAll(src).map((d) => (d.kind === "tokens" ? Array.from(d.tokens) : d.kind === "bad" ? d.reason : d.kind));
          expect(got).toEqual(ds.map((d) => (d.length === 0 ? "empty_document" : d)));
          src.close();
        },
      ),
      { numRuns: 60 },
    );
  });

  it("writes exactly the Megatron layout (hand-computed bytes)", () => {
    const prefix = tmp("exact");
    write(prefix, [[1, 2, 3], [], [65_535]], 65_536);
    expect(fs.readFileSync(`${prefix}.idx`)).toEqual(idxBytes({ dtype: 8, lengths: [3, 0, 1], pointers: [0, 6, 6], docs: [0, 1, 2, 3] }));
    expect(fs.readFileSync(`${prefix}.bin`)).toEqual(Buffer.from([1, 0, 2, 0, 3, 0, 0xff, 0xff]));
    expect(fs.readdirSync(path.dirname(prefix)).filter((f) => f.includes(".tmp"))).toEqual([]);
  });

  it("rejects token ids outside the vocabulary and leaves nothing behind on abort", () => {
    const prefix = tmp("range");
    const w = new MegatronWriter(prefix, { vocabSize: 1000 });
    expect(() => w.add(Int32Array.from([5, 1000]))).toThrow(/outside \[0, 1000\)/);
    expect(() => w.add(Int32Array.from([-1]))).toThrow(RangeError);
    w.abort();
    expect(fs.readdirSync(path.dirname(prefix)).filter((f) => f.startsWith(path.basename(prefix)))).toEqual([]);
  });
});

describe("openMegatron on hand-built files", () => {
  function files(idx: Buffer, bin: Buffer): string {
    const prefix = tmp("hand");
    fs.writeFileSync(`${prefix}.idx`, idx);
    fs.writeFileSync(`${prefix}.bin`, bin);
    return prefix;
  }

  it("concatenates a document's sequences and widens every integer dtype", async () => {
    const cases: [number, Buffer][] = [
      [1, Buffer.from(Uint8Array.from([7, 8, 9, 250]).buffer)],
      [2, Buffer.from(Int8Array.from([7, 8, 9, 100]).buffer)],
      [3, Buffer.from(Int16Array.from([7, 8, 9, 30_000]).buffer)],
      [4, Buffer.from(Int32Array.from([7, 8, 9, 1_000_000]).buffer)],
      [5, Buffer.from(BigInt64Array.from([7n, 8n, 9n, 1_000_000n]).buffer)],
      [8, Buffer.from(Uint16Array.from([7, 8, 9, 65_000]).buffer)],
    ];
    for (const [dtype, bin] of cases) {
      const size = bin.length / 4;
      // Three sequences (2, 1, 1 tokens); document 0 = sequences 0 and 1, document 1 = sequence 2.
      const prefix = files(idxBytes({ dtype, lengths: [2, 1, 1], pointers: [0, 2 * size, 3 * size], docs: [0, 2, 3] }), bin);
      const src = await openMegatron(prefix);
      const last = dtype === 1 ? 250 : dtype === 2 ? 100 : dtype === 3 ? 30_000 : dtype === 8 ? 65_000 : 1_000_000;
      expect(tokensOf(src)).toEqual([[7, 8, 9], [last]]);
      src.close();
    }
  });

  const good = () => idxBytes({ dtype: 8, lengths: [2, 2], pointers: [0, 4], docs: [0, 1, 2] });
  const bin = Buffer.alloc(8);

  it.each<[string, () => Buffer, Buffer, RegExp]>([
    ["wrong magic", () => idxBytes({ magic: "MMIDIDY\0\0", dtype: 8, lengths: [], pointers: [], docs: [0] }), bin, /wrong magic/],
    ["wrong version", () => idxBytes({ version: 2n, dtype: 8, lengths: [], pointers: [], docs: [0] }), bin, /version 2/],
    ["float dtype", () => idxBytes({ dtype: 7, lengths: [], pointers: [], docs: [0] }), bin, /float32/],
    ["unknown dtype", () => idxBytes({ dtype: 9, lengths: [], pointers: [], docs: [0] }), bin, /unknown dtype code 9/],
    ["truncated header", () => good().subarray(0, 20), bin, /shorter than the 34-byte header/],
    ["truncated arrays", () => good().subarray(0, good().length - 3), bin, /truncated: header declares 2 sequences/],
    ["trailing garbage", () => Buffer.concat([good(), Buffer.alloc(5)]), bin, /5 unexpected bytes/],
    ["bad document indices", () => idxBytes({ dtype: 8, lengths: [2, 2], pointers: [0, 4], docs: [0, 1] }), bin, /run from 0 to the sequence count 2/],
    ["pointer past the end of .bin", good, Buffer.alloc(7), /sequence 1 \(2 tokens at byte 4\) runs past the end of .*\.bin \(7 bytes\)/],
  ])("rejects %s with a DataError naming the file", async (_, idx, binBytes, message) => {
    const prefix = files(idx(), binBytes);
    const err = await openMegatron(prefix).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataError);
    expect(err).toMatchObject({ reason: "bad_format", file: `${prefix}.idx` });
    expect((err as Error).message).toMatch(message);
  });

  it("accepts the multimodal trailer of one mode byte per sequence", async () => {
    const prefix = files(Buffer.concat([good(), Buffer.alloc(2)]), bin);
    expect((await openMegatron(prefix)).numDocuments).toBe(2);
  });

  it("throws unreadable_file when .bin or .idx is missing", async () => {
    const prefix = files(good(), bin);
    fs.rmSync(`${prefix}.bin`);
    await expect(openMegatron(prefix)).rejects.toMatchObject({ reason: "unreadable_file", file: `${prefix}.bin` });
    await expect(openMegatron(tmp("none"))).rejects.toMatchObject({ reason: "unreadable_file" });
  });
});

describe("openMegatron: empty documents and token ids outside the vocabulary", () => {
  function files(idx: Buffer, bin: Buffer): string {
    const prefix = tmp("checks");
    fs.writeFileSync(`${prefix}.idx`, idx);
    fs.writeFileSync(`${prefix}.bin`, bin);
    return prefix;
  }

  it("reports a document with no sequences (preprocess_data.py on an empty text) or no tokens as empty_document", async () => {
    // Documents: 0 = seq 0; 1 = no sequences (docs 1, 1); 2 = seq 1 of length 0; 3 = seqs 2 and 3.
    const bin = Buffer.from(Uint16Array.from([5, 6, 7, 8]).buffer);
    const prefix = files(idxBytes({ dtype: 8, lengths: [2, 0, 1, 1], pointers: [0, 4, 4, 6], docs: [0, 1, 1, 2, 4] }), bin);
    const src = await openMegatron(prefix);
    expect(readAll(src)).toEqual([
      { kind: "tokens", tokens: Int32Array.from([5, 6]) },
      { kind: "bad", reason: "empty_document", file: `${prefix}.idx`, detail: "document 1 has no tokens" },
      { kind: "bad", reason: "empty_document", file: `${prefix}.idx`, detail: "document 2 has no tokens" },
      { kind: "tokens", tokens: Int32Array.from([7, 8]) },
    ]);
    src.close();
  });

  it("reports an int32 id past the vocabulary, or negative, as token_out_of_range naming document, id and vocab size", async () => {
    // Document 1 is one sequence (the preloaded zero-copy path), document 2 two (the copying path).
    const bin = Buffer.from(Int32Array.from([1, 2, 4097, 3, 2_146_540_081, 4, 0, -7]).buffer);
    const prefix = files(idxBytes({ dtype: 4, lengths: [3, 2, 1, 2], pointers: [0, 12, 20, 24], docs: [0, 1, 2, 4] }), bin);
    const src = await openMegatron(prefix, { vocabSize: 4098 });
    const [ok, huge, negative] = readAll(src);
    expect(ok).toEqual({ kind: "tokens", tokens: Int32Array.from([1, 2, 4097]) });
    expect(huge).toEqual({
      kind: "bad",
      reason: "token_out_of_range",
      file: `${prefix}.bin`,
      detail: "document 1: token id 2146540081 at position 1 is outside the tokenizer's vocabulary [0, 4098)",
    });
    expect(negative).toMatchObject({ reason: "token_out_of_range", detail: expect.stringMatching(/^document 2: token id -7 at position 2 .*\[0, 4098\)$/) });
    src.close();
    // Without a vocabulary size nothing is checked (tools that have no tokenizer).
    const unchecked = await openMegatron(prefix);
    expect(unchecked.read(1)).toEqual({ kind: "tokens", tokens: Int32Array.from([3, 2_146_540_081]) });
    unchecked.close();
    // openSource passes the vocabulary size through.
    const viaSpec = asSync(await openSource(sourceSpecSchema.parse({ type: "megatron", path: prefix }), { baseDir: "/", vocabSize: 4098 }));
    expect(viaSpec.read(1)).toMatchObject({ kind: "bad", reason: "token_out_of_range" });
    viaSpec.close();
  });

  it("has info and an identity of both files' sizes and mtimes", async () => {
    const prefix = tmp("info");
    write(prefix, [[1, 2], [3]], 1000);
    fs.utimesSync(`${prefix}.bin`, 1_700_000_000, 1_700_000_000);
    fs.utimesSync(`${prefix}.idx`, 1_700_000_001, 1_700_000_001);
    const src = await openMegatron(prefix);
    const idxSize = fs.statSync(`${prefix}.idx`).size;
    expect(src.info).toEqual({ format: "megatron", files: 2, remote: false, bytes: 6 + idxSize });
    expect(src.identity).toBe(`${prefix}.idx\tsize=${idxSize};mtime=1700000001000\n${prefix}.bin\tsize=6;mtime=1700000000000`);
    src.close();
  });
});

describe("the loader over a Megatron domain with bad documents", () => {
  // 12 documents; llama3's vocabulary is 128,256 ids. Bad: 3 and 8 empty, 5 a huge id, 10 a negative id.
  const docs = Array.from({ length: 12 }, (_, d) => Array.from({ length: 20 + d }, (_, i) => 100 + d * 50 + i));
  function prefixWithBadDocs(): string {
    const prefix = tmp("loader");
    const body = docs.map((d, i) => (i === 3 || i === 8 ? [] : i === 5 ? [...d.slice(0, 4), 2_146_540_081, ...d.slice(5)] : i === 10 ? [-1, ...d] : d));
    const lengths = body.map((d) => d.length);
    const pointers = lengths.map((_, i) => lengths.slice(0, i).reduce((a, b) => a + b, 0) * 4);
    fs.writeFileSync(`${prefix}.idx`, idxBytes({ dtype: 4, lengths, pointers, docs: lengths.map((_, i) => i).concat(lengths.length) }));
    fs.writeFileSync(`${prefix}.bin`, Buffer.from(Int32Array.from(body.flat()).buffer));
    return prefix;
  }
  const config = (prefix: string, onError: string) =>
    loaded(smallBrownConfig({ on_error: onError, on_exhausted: "drop", domains: [{ name: "m", sources: [{ type: "megatron", path: prefix }] }] }));

  it("counts them by reason under on_error: skip, serving only the good documents", async () => {
    const loader = await Loader.open(config(prefixWithBadDocs(), "skip"));
    try {
      while ((await loader.next([1])) !== null);
      const stats = loader.stats();
      expect(stats.skipped).toEqual({ empty_document: 2, token_out_of_range: 2 });
      expect(stats.documents).toBe(8);
    } finally {
      await loader.close();
    }
  });

  it("stops with a DataError naming the file and document under on_error: fail", async () => {
    const prefix = prefixWithBadDocs();
    const loader = await Loader.open(config(prefix, "fail"));
    try {
      let err: unknown;
      try {
        while ((await loader.next([1])) !== null);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(DataError);
      expect((err as Error).message).toMatch(
        new RegExp(
          `^${prefix}\\.(idx: empty_document: document [38] has no tokens|bin: token_out_of_range: document (5|10): token id (2146540081|-1) .*\\[0, 128256\\))`,
        ),
      );
    } finally {
      await loader.close();
    }
  });
});
