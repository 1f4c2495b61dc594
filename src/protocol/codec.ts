/**
 * Bytes ↔ messages: MessagePack headers and raw little-endian array frames (no per-token
 * MessagePack). A message is `[header, ...arrays]`; the envelope (ROUTER identity, empty
 * delimiter) is the socket layer's business, not this module's.
 */
import { Packr, Unpackr } from "msgpackr";
import { DTYPES, ProtocolError, type ArraySpec, type DType } from "./types.js";

// Plain maps, float64 for every non-integer number, no msgpackr record extension: any
// MessagePack library on the other side reads exactly what the contract describes.
const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error("mixload's wire code assumes a little-endian host (array frames are raw host memory)");
}

export function encodeHeader(header: object): Buffer {
  return packr.pack(header);
}

/** Decode frame 0; anything but a MessagePack map is `bad_request`. */
export function decodeHeader(frame: Uint8Array): Record<string, unknown> {
  let value: unknown;
  try {
    value = unpackr.unpack(frame);
  } catch (e) {
    throw new ProtocolError("bad_request", `frame 0 is not MessagePack: ${(e as Error).message}`, "header");
  }
  // Only a plain map: msgpackr turns the never-used byte 0xc1 into a placeholder object, not an error.
  const proto: unknown = typeof value === "object" && value !== null ? Object.getPrototypeOf(value) : undefined;
  if (proto !== Object.prototype && proto !== null) {
    throw new ProtocolError("bad_request", `frame 0 must be a MessagePack map, got ${describe(value)}`, "header");
  }
  return value as Record<string, unknown>;
}

export function describe(value: unknown): string {
  if (value === null) return "nil";
  if (Array.isArray(value)) return "an array";
  if (value instanceof Uint8Array) return "binary";
  if (typeof value === "number" && Number.isNaN(value)) return "NaN";
  if (typeof value === "object" && Object.getPrototypeOf(value) !== Object.prototype) return "an undecodable value";
  return typeof value === "object" ? "a map" : `${typeof value} ${JSON.stringify(typeof value === "bigint" ? String(value) : value)}`;
}

export type TypedArray = Uint8Array | Int8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | Float32Array | Float64Array;

const CTORS = {
  uint8: Uint8Array,
  int8: Int8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  float32: Float32Array,
  float64: Float64Array,
} as const;

export function itemSize(dtype: DType): number {
  return CTORS[dtype].BYTES_PER_ELEMENT;
}

export function dtypeOf(array: TypedArray): DType {
  for (const d of DTYPES) if (array instanceof CTORS[d]) return d;
  throw new TypeError("not a supported typed array");
}

/** The raw bytes of a typed array, without copying. */
export function bytesOf(array: TypedArray): Buffer {
  return Buffer.from(array.buffer, array.byteOffset, array.byteLength);
}

export interface NamedArray {
  name: string;
  array: TypedArray;
  shape: number[];
}

/** Header `arrays` entries plus one zero-copy frame per array. */
export function encodeArrays(arrays: readonly NamedArray[]): { specs: ArraySpec[]; frames: Buffer[] } {
  const specs: ArraySpec[] = [];
  const frames: Buffer[] = [];
  for (const a of arrays) {
    const n = a.shape.reduce((x, y) => x * y, 1);
    if (n !== a.array.length) throw new RangeError(`array ${a.name}: shape [${a.shape}] holds ${n} items, the array ${a.array.length}`);
    specs.push({ name: a.name, dtype: dtypeOf(a.array), shape: [...a.shape] });
    frames.push(bytesOf(a.array));
  }
  return { specs, frames };
}

export interface DecodedArray {
  name: string;
  dtype: DType;
  shape: number[];
  array: TypedArray;
}

/**
 * Check the header's `arrays` list against the frames and view each frame as its typed array
 * (copied only when the frame is not aligned for its dtype).
 */
export function decodeArrays(specsValue: unknown, frames: readonly Uint8Array[]): DecodedArray[] {
  const specs = specsValue ?? [];
  if (!Array.isArray(specs)) throw new ProtocolError("bad_request", "arrays must be a list", "arrays");
  if (specs.length !== frames.length) {
    throw new ProtocolError("bad_request", `arrays lists ${specs.length} entries but ${frames.length} array frames follow the header`, "arrays");
  }
  return specs.map((spec: unknown, i) => {
    const where = `arrays[${i}]`;
    if (typeof spec !== "object" || spec === null) throw new ProtocolError("bad_request", `${where} must be a map`, where);
    const { name, dtype, shape } = spec as Record<string, unknown>;
    if (typeof name !== "string") throw new ProtocolError("bad_request", `${where}.name must be a string`, `${where}.name`);
    if (typeof dtype !== "string" || !(DTYPES as readonly string[]).includes(dtype)) {
      throw new ProtocolError("bad_request", `${where}.dtype must be one of ${DTYPES.join(" ")}, got ${describe(dtype)}`, `${where}.dtype`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new ProtocolError("bad_request", `${where}.shape must be a list of non-negative integers`, `${where}.shape`);
    }
    const d = dtype as DType;
    const n = (shape as number[]).reduce((x, y) => x * y, 1);
    const frame = frames[i];
    if (frame.byteLength !== n * itemSize(d)) {
      throw new ProtocolError(
        "bad_request",
        `${where} (${name}): shape [${shape.join(", ")}] ${d} needs ${n * itemSize(d)} bytes, frame ${i + 1} has ${frame.byteLength}`,
        where,
      );
    }
    const Ctor = CTORS[d];
    const aligned = frame.byteOffset % Ctor.BYTES_PER_ELEMENT === 0 ? frame : Uint8Array.from(frame);
    return { name, dtype: d, shape: shape as number[], array: new Ctor(aligned.buffer as ArrayBuffer, aligned.byteOffset, n) };
  });
}

/** A whole message: header (with `arrays` filled in when there are arrays) and its frames. */
export function encodeMessage(header: object, arrays: readonly NamedArray[] = []): Buffer[] {
  if (arrays.length === 0) return [encodeHeader(header)];
  const { specs, frames } = encodeArrays(arrays);
  return [encodeHeader({ ...header, arrays: specs }), ...frames];
}
