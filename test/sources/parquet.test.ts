/**
 * Parquet and Arrow sources on files from an independent writer (DuckDB writes the Parquet;
 * apache-arrow the Arrow IPC, see test/helpers/parquet-fixtures.ts), filled with real text:
 * Brown paragraphs, Spam Assassin mails, source code.
 */
import fs from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { openParquet } from "../../src/sources/parquet.js";
import { openArrow } from "../../src/sources/arrow.js";
import type { TableSource } from "../../src/sources/table-source.js";
import type { ReadResult } from "../../src/sources/types.js";
import {
  mixedDocs,
  writeArrowIpc,
  writeBadParquet,
  writeHfSaveToDisk,
  writeParquet,
  writeParquetDataset,
  type FixtureDoc,
  type ParquetCodec,
} from "../helpers/parquet-fixtures.js";
import { tempDir } from "./tmp.js";
import { BlockTiers, DEFAULT_SPILL_BYTES } from "../../src/sources/block-tiers.js";

const tmp = tempDir();
let docs: FixtureDoc[];
beforeAll(async () => {
  docs = await mixedDocs();
});

const META = ["id", "url", "score", "int_score"];

async function readAllOf(source: TableSource): Promise<ReadResult[]> {
  return source.readMany(Array.from({ length: source.numDocuments }, (_, i) => i));
}

function expectSameDocs(got: readonly ReadResult[], want: readonly FixtureDoc[]): void {
  expect(got.length).toBe(want.length);
  got.forEach((g, i) => {
    const d = want[i];
    expect(g).toEqual({ kind: "text", text: d.text, metadata: { id: d.id, url: d.url, score: d.score, int_score: d.int_score } });
  });
}

describe("parquet source", () => {
  it.each<ParquetCodec>(["snappy", "zstd", "gzip", "brotli", "lz4_raw", "uncompressed"])(
    "reads every row and metadata column of a DuckDB %s file, by row group",
    async (codec) => {
      const file = await writeParquet(docs, tmp(`docs-${codec}.parquet`), { codec, rowGroupSize: 50 });
      const source = await openParquet(file, "/", { metadata: META });
      try {
        expect(source.numDocuments).toBe(docs.length);
        expect(source.blocks).toEqual(Array.from({ length: Math.ceil(docs.length / 50) }, (_, g) => Math.min(50, docs.length - 50 * g)));
        expect(source.info.codecs).toContain(codec === "uncompressed" ? "uncompressed" : codec);
        expectSameDocs(await readAllOf(source), docs);
        // Each row group decoded once for a whole-file read.
        expect(source.counters.blocksDecoded).toBe(source.blocks.length);
      } finally {
        source.close();
      }
    },
  );

  it("reads one requested row by decoding only its row group", async () => {
    const file = await writeParquet(docs, tmp("one.parquet"), { rowGroupSize: 100 });
    const source = await openParquet(file, "/");
    try {
      const [doc] = await source.readMany([250]);
      expect(doc).toEqual({ kind: "text", text: docs[250].text });
      expect(source.counters.blocksDecoded).toBe(1);
    } finally {
      source.close();
    }
  });

  it("serves row groups spilled to disk when memory is short, decoding each once; and re-decodes what the disk tier dropped", async () => {
    const file = await writeParquet(docs, tmp("spill.parquet"), { rowGroupSize: 30, codec: "snappy" });
    // Every row in a scattered order: each read needs another row group than the last.
    const order = Array.from({ length: docs.length }, (_, i) => (i * 97) % docs.length);
    for (const diskBytes of [DEFAULT_SPILL_BYTES, 1]) {
      const tiers = new BlockTiers({ memoryBytes: 1, diskBytes, cacheDir: tmp("spill-cache") });
      const source = await openParquet(file, "/", { metadata: META, tiers });
      try {
        const got: ReadResult[] = [];
        for (let i = 0; i < order.length; i += 7) got.push(...(await source.readMany(order.slice(i, i + 7))));
        expectSameDocs(
          got,
          order.map((i) => docs[i]),
        );
        if (diskBytes === DEFAULT_SPILL_BYTES) expect(source.counters.blocksDecoded).toBe(source.blocks.length);
        else expect(source.counters.blocksDecoded).toBeGreaterThan(source.blocks.length);
        expect(source.counters.blocksDistinct).toBe(source.blocks.length);
      } finally {
        source.close();
        tiers.close();
      }
    }
  });

  it("serves an HF layout folder (data/train-0000i-of-00004.parquet) and a glob as one source, in shard order", async () => {
    const root = tmp("hf");
    await writeParquetDataset(docs, root, { files: 4, rowGroupSize: 64, codec: "snappy" });
    for (const spec of [root, path.join(root, "data/train-*.parquet"), path.join(root, "**/*.parquet")]) {
      const source = await openParquet(spec, "/", { metadata: META });
      try {
        expect(source.info.files).toBe(4);
        expectSameDocs(await readAllOf(source), docs);
      } finally {
        source.close();
      }
    }
  });

  it("names file and row for a missing text column, NULL text and non-string text; good files stay readable", async () => {
    const dir = tmp("bad");
    const bad = await writeBadParquet(docs.slice(0, 6), dir);
    const source = await openParquet(path.join(dir, "data/*.parquet"), "/");
    try {
      const got = await readAllOf(source);
      const at = (file: string, row: number) => got[[bad.good, bad.renamedText, bad.nullText, bad.intText].indexOf(file) * 6 + row];
      expect(at(bad.good, 0)).toEqual({ kind: "text", text: docs[0].text });
      expect(at(bad.renamedText, 3)).toMatchObject({ kind: "bad", reason: "missing_field", file: bad.renamedText, row: 3 });
      expect((at(bad.renamedText, 3) as { detail: string }).detail).toMatch(/no column "text" \(columns: content, id/);
      expect(at(bad.nullText, bad.nullTextRow)).toMatchObject({ kind: "bad", reason: "not_a_string", file: bad.nullText, row: bad.nullTextRow });
      expect(at(bad.nullText, 0)).toEqual({ kind: "text", text: docs[0].text });
      expect(at(bad.intText, 5)).toMatchObject({ kind: "bad", reason: "not_a_string", row: 5, detail: 'column "text" is INT64 (INT_64), not a string' });
      expect(source.fileProblems().map((p) => p.file)).toEqual([bad.renamedText, bad.intText]);
    } finally {
      source.close();
    }
  });

  it("a missing metadata column makes that file's rows bad, naming the column", async () => {
    const file = await writeParquet(docs.slice(0, 5), tmp("meta.parquet"));
    const source = await openParquet(file, "/", { metadata: ["score", "language_score"] });
    try {
      const [doc] = await source.readMany([2]);
      expect(doc).toMatchObject({ kind: "bad", reason: "missing_field", row: 2 });
      expect((doc as { detail: string }).detail).toMatch(/no metadata column "language_score"/);
    } finally {
      source.close();
    }
  });

  it("refuses a file that is not Parquet, or a folder without Parquet files, naming it", async () => {
    const notParquet = tmp("x.parquet");
    fs.writeFileSync(notParquet, "PAR1 this is not parquet at all");
    await expect(openParquet(notParquet, "/")).rejects.toThrow(new RegExp(`^${notParquet}: bad_format: not a readable Parquet file`));
    const truncated = tmp("t.parquet");
    const whole = fs.readFileSync(await writeParquet(docs.slice(0, 20), tmp("w.parquet")));
    fs.writeFileSync(truncated, whole.subarray(0, whole.length - 100));
    await expect(openParquet(truncated, "/")).rejects.toThrow(/bad_format/);
    const empty = tmp("empty");
    fs.mkdirSync(empty);
    await expect(openParquet(empty, "/")).rejects.toThrow(/unreadable_file: the folder holds no \.parquet or \.pq files/);
    await expect(openParquet("nope/*.parquet", empty)).rejects.toThrow(/unreadable_file/);
  });
});

describe("arrow source", () => {
  it.each(["stream", "file"] as const)("reads an Arrow IPC %s-format file by record batch", async (format) => {
    const file = writeArrowIpc(docs, tmp(`docs-${format}.arrow`), format, 100);
    const source = await openArrow(file, "/", { metadata: META });
    try {
      expect(source.blocks.length).toBe(Math.ceil(docs.length / 100));
      expectSameDocs(await readAllOf(source), docs);
      expect(source.counters.blocksDecoded).toBe(source.blocks.length);
    } finally {
      source.close();
    }
  });

  it("serves a datasets.save_to_disk folder (data-0000i-of-0000n.arrow, state.json beside)", async () => {
    const dir = tmp("save-to-disk");
    writeHfSaveToDisk(docs, dir, 3);
    const source = await openArrow(dir, "/", { metadata: META });
    try {
      expect(source.info.files).toBe(3);
      expectSameDocs(await readAllOf(source), docs);
    } finally {
      source.close();
    }
  });

  it("refuses a truncated stream, naming the file", async () => {
    const whole = fs.readFileSync(writeArrowIpc(docs, tmp("w.arrow"), "stream", 100));
    const cut = tmp("cut.arrow");
    fs.writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2)));
    await expect(openArrow(cut, "/")).rejects.toThrow(new RegExp(`^${cut}: bad_format: message at byte \\d+ ends at byte \\d+, past the end of the file`));
  });
});
