/** The Parquet/JSONL/Arrow fixtures open with the readers we use and have the promised shape. */
import fs from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import { tableFromIPC } from "apache-arrow";
import {
  FIXTURE_COLUMNS,
  footerCodec,
  mixedDocs,
  writeArrowIpc,
  writeBadParquet,
  writeHfSaveToDisk,
  writeJsonl,
  writeParquet,
  writeParquetDataset,
  type FixtureDoc,
  type ParquetCodec,
} from "../helpers/parquet-fixtures.js";
import { tempDir } from "./tmp.js";

const tmp = tempDir();
let docs: FixtureDoc[];

beforeAll(async () => {
  docs = await mixedDocs();
});

async function open(file: string) {
  const buffer = await asyncBufferFromFile(file);
  return { buffer, metadata: await parquetMetadataAsync(buffer) };
}

describe("parquet fixtures", () => {
  it("mix real Brown, Spam Assassin and code documents with stable ids", () => {
    expect(docs.length).toBeGreaterThan(400);
    expect(docs[0].id).toBe("brown-ca01-p0");
    expect(docs.some((d) => d.id.startsWith("spam-spam-2-"))).toBe(true);
    expect(docs.some((d) => d.id === "code-hyparquet-src/read.js")).toBe(true);
    expect(new Set(docs.map((d) => d.id)).size).toBe(docs.length);
    for (const d of docs) {
      expect(d.score).toBeGreaterThanOrEqual(0);
      expect(d.score).toBeLessThan(5);
      expect(d.int_score).toBe(Math.round(d.score));
    }
  });

  const codecs: ParquetCodec[] = ["snappy", "zstd", "gzip", "brotli", "lz4", "lz4_raw", "uncompressed"];
  it.each(codecs)("%s: exact row groups, the codec in the footer, the rows read back by hyparquet", async (codec) => {
    const file = await writeParquet(docs, tmp(`${codec}.parquet`), { codec, rowGroupSize: 100 });
    const { buffer, metadata } = await open(file);
    expect(Number(metadata.num_rows)).toBe(docs.length);
    const groups = metadata.row_groups.map((g) => Number(g.num_rows));
    expect(groups.length).toBe(Math.ceil(docs.length / 100));
    expect(groups.slice(0, -1).every((n) => n === 100)).toBe(true);
    for (const g of metadata.row_groups) {
      expect(g.columns.map((c) => c.meta_data?.path_in_schema[0])).toEqual([...FIXTURE_COLUMNS]);
      for (const c of g.columns) expect(c.meta_data?.codec).toBe(footerCodec(codec));
    }
    expect(parquetSchema(metadata).children.map((c) => [c.element.name, c.element.type])).toEqual([
      ["text", "BYTE_ARRAY"],
      ["id", "BYTE_ARRAY"],
      ["url", "BYTE_ARRAY"],
      ["score", "DOUBLE"],
      ["int_score", "INT64"],
      ["token_count", "INT64"],
    ]);
    const rows = await parquetReadObjects({ file: buffer, metadata, compressors });
    expect(rows.map((r) => r.text)).toEqual(docs.map((d) => d.text));
    expect(rows.map((r) => r.id)).toEqual(docs.map((d) => d.id));
    expect(rows.map((r) => r.score)).toEqual(docs.map((d) => d.score));
    expect(rows.map((r) => r.token_count)).toEqual(docs.map((d) => BigInt(d.token_count)));
  });

  it("DuckDB's default row groups hold every row in one group for a small file", async () => {
    const { metadata } = await open(await writeParquet(docs, tmp("default.parquet")));
    expect(metadata.row_groups.map((g) => Number(g.num_rows))).toEqual([docs.length]);
  });

  it("are byte-identical when written twice", async () => {
    const a = await writeParquet(docs, tmp("a.parquet"), { codec: "snappy", rowGroupSize: 64 });
    const b = await writeParquet(docs, tmp("b.parquet"), { codec: "snappy", rowGroupSize: 64 });
    expect(fs.readFileSync(a).equals(fs.readFileSync(b))).toBe(true);
  });

  it("shard into the HF layout data/train-0000i-of-0000n.parquet", async () => {
    const root = tmp("hf");
    const files = await writeParquetDataset(docs, root, { files: 4, codec: "zstd", rowGroupSize: 50 });
    expect(files.map((f) => path.relative(root, f))).toEqual([0, 1, 2, 3].map((i) => `data/train-0000${i}-of-00004.parquet`));
    const ids: string[] = [];
    for (const f of files) {
      const { buffer, metadata } = await open(f);
      ids.push(...(await parquetReadObjects({ file: buffer, metadata, columns: ["id"], compressors })).map((r) => r.id as string));
    }
    expect(ids).toEqual(docs.map((d) => d.id));
  });

  it("write the same documents as JSONL", async () => {
    const parquet = await writeParquet(docs, tmp("j.parquet"), { codec: "zstd" });
    const jsonl = writeJsonl(docs, tmp("j.jsonl"));
    const lines = fs
      .readFileSync(jsonl, "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    const { buffer, metadata } = await open(parquet);
    const rows = await parquetReadObjects({ file: buffer, metadata, compressors });
    expect(lines.length).toBe(rows.length);
    expect(lines.map((l) => [l.text, l.id, l.url, l.score, l.int_score, l.token_count])).toEqual(
      rows.map((r) => [r.text, r.id, r.url, r.score, Number(r.int_score), Number(r.token_count)]),
    );
  });

  it("write a bad set: renamed text, a NULL text, integer text", async () => {
    const bad = await writeBadParquet(docs.slice(0, 10), tmp("bad"));
    const names = async (f: string) => parquetSchema((await open(f)).metadata).children.map((c) => c.element.name);
    expect(await names(bad.good)).toContain("text");
    expect(await names(bad.renamedText)).not.toContain("text");
    expect(await names(bad.renamedText)).toContain("content");
    const nulls = await open(bad.nullText);
    const texts = (await parquetReadObjects({ file: nulls.buffer, metadata: nulls.metadata, columns: ["text"], compressors })).map((r) => r.text);
    expect(texts[bad.nullTextRow]).toBeNull();
    expect(texts.filter((t) => t === null).length).toBe(1);
    const ints = await open(bad.intText);
    expect(parquetSchema(ints.metadata).children[0].element).toMatchObject({ name: "text", type: "INT64" });
  });

  it("write Arrow IPC stream (datasets' format) and file format", () => {
    const stream = writeArrowIpc(docs, tmp("data-00000-of-00001.arrow"), "stream", 256);
    const file = writeArrowIpc(docs, tmp("file.arrow"), "file", 256);
    const sBytes = fs.readFileSync(stream);
    const fBytes = fs.readFileSync(file);
    expect(sBytes.subarray(0, 6).toString("latin1")).not.toBe("ARROW1");
    expect(fBytes.subarray(0, 6).toString("latin1")).toBe("ARROW1");
    for (const bytes of [sBytes, fBytes]) {
      const t = tableFromIPC(bytes);
      expect(t.numRows).toBe(docs.length);
      expect(t.batches.length).toBe(Math.ceil(docs.length / 256));
      expect(t.schema.fields.map((f) => f.name)).toEqual([...FIXTURE_COLUMNS]);
      expect(t.getChild("text")?.get(3)).toBe(docs[3].text);
      expect(JSON.parse(t.schema.metadata.get("huggingface") ?? "{}").info.features.text.dtype).toBe("string");
    }
    const dir = tmp("saved");
    const arrows = writeHfSaveToDisk(docs, dir, 2);
    expect(arrows.map((f) => path.basename(f))).toEqual(["data-00000-of-00002.arrow", "data-00001-of-00002.arrow"]);
    expect(JSON.parse(fs.readFileSync(path.join(dir, "state.json"), "utf8"))._data_files).toEqual([
      { filename: "data-00000-of-00002.arrow" },
      { filename: "data-00001-of-00002.arrow" },
    ]);
  });
});
