/**
 * JSON Lines on an HTTP server (`{"type": "jsonl", "path": "https://host/data.jsonl"}`).
 *
 * Plain `.jsonl`: random access needs to know where each line starts, which needs one pass over
 * the file. Open streams it once (http.ts `scan`) into the same line index the local source builds
 * (lines.ts), and saves that index in the cache dir under a hash of (URL, identity): the next open
 * of an unchanged file is one request plus a local read, and a changed file (new ETag or size) gets
 * a fresh index. Documents are then read by range request, a readMany's lines merged into a few
 * requests (ranges.ts), and parsed by jsonl.ts's JsonlLineParser, so bad lines read the same.
 * A small file is kept in memory from that one pass instead (preload.ts says why).
 *
 * `.jsonl.gz` / `.jsonl.zst` cannot be read by range (a compressed stream has no random access), so
 * they are downloaded once into the cache dir under the same (URL, identity) key and served by
 * the local path (decompress-cache.ts, then jsonl.ts).
 */
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { placeOf, type AsyncSource, type BadDocument, type DocumentPlace, type DocumentSource, type RawDocument, type SourceInfo } from "./types.js";
import type { ByteSource } from "./byte-source.js";
import { HttpByteSource } from "./http.js";
import { REMOTE_PRELOAD_BYTES, fetchWhole } from "./preload.js";
import type { RemoteOptions } from "./remote.js";
import { codecOf, decompressToCache } from "./decompress-cache.js";
import { JsonlLineParser, openJsonl, type JsonlOptions } from "./jsonl.js";
import { documentLine, LineIndexBuilder, LineScanner, type LineIndex } from "./lines.js";
import { readSpans, type MergeOptions } from "./ranges.js";
import { writeFileAtomic } from "../util/atomic-file.js";
import { DataError } from "../util/errors.js";

export interface RemoteJsonlOptions {
  readonly jsonl: JsonlOptions;
  /** Line indexes and downloaded compressed files go here. */
  readonly cacheDir: string;
  readonly remote?: RemoteOptions;
}

export async function openRemoteJsonl(url: string, options: RemoteJsonlOptions): Promise<DocumentSource> {
  const file = await HttpByteSource.open(url, options.remote);
  try {
    const key = createHash("sha256").update(`${url}\0${file.identity}`).digest("hex");
    const codec = codecOf(new URL(url).pathname);
    if (codec !== undefined) {
      const local = await download(file, path.join(options.cacheDir, `${key}.jsonl.${codec}`));
      file.close();
      const cached = await decompressToCache(local, options.cacheDir).catch((e: unknown) => {
        if (!(e instanceof DataError)) throw e;
        // Name the URL, not the downloaded copy.
        const prefix = `${local}: ${e.reason}: `;
        throw new DataError(e.reason, url, e.line, e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message);
      });
      const source = await openJsonl(cached, { ...options.jsonl, shownAs: url });
      // The resume identity is the server's version of the compressed file, not the cache's mtime.
      return {
        description: url,
        numDocuments: source.numDocuments,
        identity: file.identity,
        info: { format: `jsonl.${codec}`, ...source.info, files: 1, remote: true, bytes: file.size },
        read: (i) => source.read(i),
        locate: (i) => placeOf(source, i), // its description is the URL (shownAs)
        close: () => source.close(),
      };
    }
    const parser = new JsonlLineParser(options.jsonl);
    if (file.size <= (options.remote?.preloadBytes ?? REMOTE_PRELOAD_BYTES)) {
      // Small: one GET both fills memory and builds the index, so no index is saved for it.
      const builder = new LineIndexBuilder();
      const scanner = new LineScanner(builder.onLine);
      const bytes = await fetchWhole(file, (chunk, pos) => scanner.push(chunk, pos));
      scanner.end();
      return new RemoteJsonlSource(bytes, builder.finish(), parser, undefined, options.jsonl.metadata);
    }
    const indexFile = path.join(options.cacheDir, `${key}.lines`);
    const index = loadLineIndex(indexFile) ?? (await buildLineIndex(file, indexFile));
    return new RemoteJsonlSource(file, index, parser, options.remote?.merge, options.jsonl.metadata);
  } catch (e) {
    file.close();
    throw e;
  }
}

class RemoteJsonlSource implements AsyncSource {
  readonly numDocuments: number;
  readonly description: string;
  readonly identity: string;
  readonly info: SourceInfo;

  constructor(
    private readonly file: ByteSource,
    private readonly index: LineIndex,
    private readonly parser: JsonlLineParser,
    private readonly merge: MergeOptions | undefined,
    metadata: readonly string[] | undefined,
  ) {
    this.numDocuments = index.starts.length;
    this.description = file.name;
    this.identity = file.identity;
    this.info = { format: "jsonl", files: 1, remote: true, bytes: file.size, metadata: metadata ?? [] };
  }

  async readMany(indices: readonly number[]): Promise<(RawDocument | BadDocument)[]> {
    const { starts, ends, lines } = this.index;
    const spans = indices.map((i) => {
      if (!(Number.isInteger(i) && i >= 0 && i < this.numDocuments)) throw new RangeError(`document ${i} out of range`);
      return { start: starts[i], end: ends[i] };
    });
    const bytes = await readSpans(this.file, spans, this.merge);
    return indices.map((i, k) => this.parser.parse(bytes[k], this.description, documentLine(lines, i)));
  }

  locate(index: number): DocumentPlace {
    return { file: this.description, unit: "line", at: documentLine(this.index.lines, index) };
  }

  close(): void {
    this.file.close();
  }
}

/** One streamed pass over the file, saved for the next open. */
async function buildLineIndex(file: HttpByteSource, saveAs: string): Promise<LineIndex> {
  const builder = new LineIndexBuilder();
  const scanner = new LineScanner(builder.onLine);
  await file.scan((bytes, pos) => scanner.push(bytes, pos));
  scanner.end();
  const index = builder.finish();
  fs.mkdirSync(path.dirname(saveAs), { recursive: true });
  writeFileAtomic(saveAs, encodeLineIndex(index));
  return index;
}

/**
 * The saved index: magic, document count, whether line numbers follow, then starts, ends and
 * (if present) line numbers as float64. Only this module writes and reads it.
 */
const MAGIC = Buffer.from("MXLINES1", "latin1");

function encodeLineIndex(index: LineIndex): Uint8Array {
  const n = index.starts.length;
  const head = new Float64Array([n, index.lines ? 1 : 0]);
  const parts = [MAGIC, head, index.starts, index.ends, ...(index.lines ? [index.lines] : [])];
  return Buffer.concat(parts.map((p) => new Uint8Array(p.buffer, p.byteOffset, p.byteLength)));
}

/** The saved index, or undefined when there is none or it is not a whole, valid one (then it is rebuilt). */
function loadLineIndex(file: string): LineIndex | undefined {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch {
    return undefined;
  }
  if (buf.length < 24 || !buf.subarray(0, 8).equals(MAGIC)) return undefined;
  // Copies: a file buffer's offset need not be a multiple of 8.
  const f64 = (at: number, count: number): Float64Array => new Float64Array(buf.buffer.slice(buf.byteOffset + at, buf.byteOffset + at + count * 8));
  const [n, hasLines] = f64(8, 2);
  if (!Number.isInteger(n) || buf.length !== 24 + n * 8 * (hasLines ? 3 : 2)) return undefined;
  return { starts: f64(24, n), ends: f64(24 + n * 8, n), lines: hasLines ? f64(24 + n * 16, n) : undefined };
}

/** The whole file into `to` (kept as a cache: its name carries the identity), unless already there. */
async function download(file: HttpByteSource, to: string): Promise<string> {
  if (fs.existsSync(to)) return to;
  fs.mkdirSync(path.dirname(to), { recursive: true });
  const tmp = `${to}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  const fd = fs.openSync(tmp, "w");
  try {
    await file.scan((bytes) => {
      let at = 0;
      while (at < bytes.length) at += fs.writeSync(fd, bytes, at);
    });
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, to);
  return to;
}
