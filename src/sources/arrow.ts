/**
 * Arrow IPC files (`*.arrow`): what Hugging Face `datasets.save_to_disk` and the datasets cache
 * write (the IPC *stream* format, via pyarrow's RecordBatchStreamWriter), and the IPC *file*
 * format (magic `ARROW1`, then the same stream, then a footer). A TableSource (table-source.ts):
 * a document is a row, record batches are the blocks.
 *
 * The stream format has no index, so `open` walks the message framing once — each message is
 * [0xFFFFFFFF][int32 metadata length][flatbuffer Message][body of Message.bodyLength bytes]
 * (Arrow columnar format spec, "Encapsulated message format"; pre-1.0 files omit the 0xFFFFFFFF)
 * — reading only the small metadata and skipping every body, and records where each record
 * batch's bytes are. Decoding a batch reads just its bytes and hands apache-arrow a tiny stream:
 * the schema message, any dictionary messages before it, the batch, end-of-stream.
 */
import { CompressionType, DataType, Message, MessageHeader, RecordBatchReader, compressionRegistry, type Field, type Schema } from "apache-arrow";
import { Footer } from "apache-arrow/ipc/metadata/file";
import { decompress as zstdDecompress } from "fzstd";
import type { HttpOptions } from "./http.js";
import { openByteSource, type ByteSource } from "./byte-source.js";
import { openTable, type ColumnInfo, type TableFile, type TableOptions, type TableSource } from "./table-source.js";
import { DataError } from "../util/errors.js";

// pyarrow can compress record batch bodies (`IpcWriteOptions(compression="zstd")`); apache-arrow
// decodes them once a codec is registered. LZ4_FRAME has no well-kept JS decoder here and is refused by name.
compressionRegistry.set(CompressionType.ZSTD, { decode: (data) => zstdDecompress(data) });

const FILE_MAGIC = "ARROW1";
const END_OF_STREAM = Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
/** Bytes read per metadata probe; a message's flatbuffer metadata is almost always smaller. */
const PROBE_BYTES = 64 << 10;

export function openArrow(spec: string, baseDir: string, options: TableOptions = {}): Promise<TableSource> {
  return openTable({ name: "arrow", extensions: [".arrow"], openFile: openArrowFile }, spec, baseDir, options);
}

interface BatchLocation {
  readonly start: number;
  readonly end: number;
  readonly rows: number;
  /** Dictionary messages that come before it (their framed bytes), in order. */
  readonly dictionaries: number;
}

async function openArrowFile(name: string, http?: HttpOptions): Promise<TableFile> {
  const bytes = await openByteSource(name, http);
  try {
    const fail = (what: string): never => {
      throw new DataError("bad_format", name, undefined, what);
    };
    const head = await bytes.read(0, Math.min(8, bytes.size));
    const fileFormat = new TextDecoder().decode(head.subarray(0, 6)) === FILE_MAGIC;
    let pos = fileFormat ? 8 : 0;
    let schemaBytes: Uint8Array | null = null;
    let schema: Schema | null = null;
    const dictionaries: Uint8Array[] = [];
    const batches: BatchLocation[] = [];
    const codecs = new Set<string>();
    while (pos + 4 <= bytes.size) {
      const probe = await bytes.read(pos, Math.min(PROBE_BYTES, bytes.size - pos));
      const view = new DataView(probe.buffer, probe.byteOffset, probe.byteLength);
      let prefix = 4;
      let metaLength = view.getInt32(0, true);
      if (metaLength === -1) {
        if (probe.byteLength < 8) fail(`truncated message header at byte ${pos}`);
        prefix = 8;
        metaLength = view.getInt32(4, true);
      }
      if (metaLength === 0) break; // end-of-stream marker (the file format's footer follows it)
      if (metaLength < 0 || pos + prefix + metaLength > bytes.size)
        fail(`message at byte ${pos} declares ${metaLength} bytes of metadata, past the end of the file (truncated?)`);
      const meta = prefix + metaLength <= probe.byteLength ? probe.subarray(prefix, prefix + metaLength) : await bytes.read(pos + prefix, metaLength);
      let message: Message;
      try {
        message = Message.decode(meta);
      } catch (e) {
        return fail(`message at byte ${pos} is not an Arrow IPC message: ${(e as Error).message}`);
      }
      const end = pos + prefix + metaLength + Number(message.bodyLength);
      if (end > bytes.size) fail(`message at byte ${pos} ends at byte ${end}, past the end of the file (${bytes.size} bytes): truncated`);
      if (message.headerType === MessageHeader.Schema) {
        if (schema !== null) fail(`a second schema message at byte ${pos}`);
        schemaBytes = await bytes.read(pos, end - pos);
        schema = message.header() as Schema;
      } else if (message.headerType === MessageHeader.DictionaryBatch) {
        dictionaries.push(await bytes.read(pos, end - pos));
      } else if (message.headerType === MessageHeader.RecordBatch) {
        if (schema === null && fileFormat) {
          // Some writers (apache-arrow's JS file writer) keep the schema only in the footer.
          schema = await footerSchema(bytes, fail);
          schemaBytes = frameMessage(Message.encode(Message.from(schema)));
        }
        if (schema === null) fail(`record batch at byte ${pos} before any schema message`);
        const header = message.header() as { length: number | bigint; compression: { type: CompressionType } | null };
        const rows = Number(header.length);
        if (header.compression) {
          if (header.compression.type !== CompressionType.ZSTD)
            fail(`record batch at byte ${pos} is compressed with ${CompressionType[header.compression.type]}; only zstd-compressed bodies are supported`);
          codecs.add("zstd");
        }
        batches.push({ start: pos, end, rows, dictionaries: dictionaries.length });
      }
      pos = end;
    }
    if (schema === null || schemaBytes === null) return fail("no schema message: not an Arrow IPC stream or file");
    const schemaMessage = schemaBytes;
    const fields = schema.fields;
    return {
      bytes,
      columns: fields.map(columnInfo),
      blockRows: batches.map((b) => b.rows),
      codecs: [...codecs],
      decode: async (block, wanted) => {
        const at = batches[block];
        const batchBytes = await bytes.read(at.start, at.end - at.start);
        return decodeBatch(name, block, [schemaMessage, ...dictionaries.slice(0, at.dictionaries), batchBytes], wanted);
      },
    };
  } catch (e) {
    bytes.close();
    throw e;
  }
}

/** The file format's footer: [flatbuffer Footer][int32 length]["ARROW1"] at the end of the file. */
async function footerSchema(bytes: ByteSource, fail: (what: string) => never): Promise<Schema> {
  if (bytes.size < 18) return fail("too short for an Arrow IPC file footer");
  const tail = await bytes.read(bytes.size - 10, 10);
  const length = new DataView(tail.buffer, tail.byteOffset).getInt32(0, true);
  if (new TextDecoder().decode(tail.subarray(4)) !== FILE_MAGIC || length <= 0 || length > bytes.size - 18)
    return fail("no schema message and no valid footer (truncated Arrow IPC file?)");
  return Footer.decode(await bytes.read(bytes.size - 10 - length, length)).schema;
}

/** A flatbuffer Message framed as in a stream: continuation, padded length, bytes, padding to 8. */
function frameMessage(flatbuffer: Uint8Array): Uint8Array {
  const padded = (flatbuffer.byteLength + 7) & ~7;
  const out = new Uint8Array(8 + padded);
  const view = new DataView(out.buffer);
  view.setInt32(0, -1, true);
  view.setInt32(4, padded, true);
  out.set(flatbuffer, 8);
  return out;
}

function columnInfo(f: Field): ColumnInfo {
  // Dictionary-encoded columns are read as their values (apache-arrow decodes them).
  const t = DataType.isDictionary(f.type) ? f.type.dictionary : f.type;
  const isString =
    DataType.isUtf8(t) || DataType.isLargeUtf8(t) || DataType.isBinary(t) || DataType.isLargeBinary(t) || DataType.isUtf8View(t) || DataType.isBinaryView(t);
  const isNested = (t.children?.length ?? 0) > 0;
  return { name: f.name, isString, isNested, type: String(t) };
}

function decodeBatch(name: string, block: number, messages: Uint8Array[], columns: readonly string[]): unknown[][] {
  const total = messages.reduce((n, m) => n + m.byteLength, 0) + END_OF_STREAM.byteLength;
  const stream = new Uint8Array(total);
  let off = 0;
  for (const m of [...messages, END_OF_STREAM]) {
    stream.set(m, off);
    off += m.byteLength;
  }
  try {
    const reader = RecordBatchReader.from(stream);
    const batch = reader.next().value;
    if (!batch) throw new Error("no record batch decoded");
    return columns.map((c) => {
      const vector = batch.getChild(c);
      if (vector === null) throw new Error(`column "${c}" missing from the batch`);
      return Array.from(vector as Iterable<unknown>);
    });
  } catch (e) {
    throw new DataError("bad_format", name, undefined, `cannot decode record batch ${block}: ${(e as Error).message}`);
  }
}
