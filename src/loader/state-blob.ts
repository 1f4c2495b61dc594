/**
 * The resume blob: `MIXLSTAT` magic, format version (uint32 LE), SHA-256 of the payload,
 * then the payload as MessagePack. The checksum means a truncated or corrupted blob is refused
 * with a clear error instead of being half-loaded.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import { pack, unpack } from "msgpackr";
import { writeFileAtomic } from "../util/atomic-file.js";

const MAGIC = Buffer.from("MIXLSTAT", "latin1");
const VERSION = 1;
const HEADER = MAGIC.length + 4 + 32;

export class StateBlobError extends Error {
  constructor(where: string, message: string) {
    super(`${where}: ${message}`);
    this.name = "StateBlobError";
  }
}

/**
 * A sound state that cannot continue this run: from another config, other data, another mixer.
 * The user's mistake, not a bug, so the CLI prints the message alone (src/cli/lifecycle.ts, by
 * name: the name survives the builder thread's boundary). The message names what differs. Here
 * rather than in loader.ts so the service's main thread can throw it without loading the loader.
 */
export class ResumeMismatchError extends Error {
  constructor(message: string) {
    super(`cannot resume: ${message}`);
    this.name = "ResumeMismatchError";
  }
}

export function encodeStateBlob(value: unknown): Uint8Array {
  const payload = pack(value);
  const out = Buffer.alloc(HEADER + payload.length);
  MAGIC.copy(out, 0);
  out.writeUInt32LE(VERSION, MAGIC.length);
  createHash("sha256")
    .update(payload)
    .digest()
    .copy(out, MAGIC.length + 4);
  payload.copy(out, HEADER);
  return out;
}

export function decodeStateBlob(bytes: Uint8Array, where = "state blob"): unknown {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < HEADER || !buf.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new StateBlobError(where, "not a mixload state blob (bad magic or too short)");
  }
  const version = buf.readUInt32LE(MAGIC.length);
  if (version !== VERSION) throw new StateBlobError(where, `state format version ${version} is not supported (expected ${VERSION})`);
  const payload = buf.subarray(HEADER);
  const expected = buf.subarray(MAGIC.length + 4, HEADER);
  if (!createHash("sha256").update(payload).digest().equals(expected)) {
    throw new StateBlobError(where, "checksum mismatch: the blob is truncated or corrupted; refusing to load it");
  }
  return unpack(payload);
}

export function writeStateFile(file: string, value: unknown): void {
  writeFileAtomic(file, encodeStateBlob(value));
}

export function readStateFile(file: string): unknown {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new StateBlobError(file, `cannot read: ${(e as Error).message}`);
  }
  return decodeStateBlob(bytes, file);
}
