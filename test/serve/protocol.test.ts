/** The wire format on its own: header codec, raw array frames, request validation. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  checkFeedback,
  decodeArrays,
  decodeHeader,
  encodeHeader,
  encodeMessage,
  parseRequest,
  ProtocolError,
  type ErrorCode,
  type FeedbackRequest,
} from "../../src/protocol/index.js";

const codeOf = (f: () => unknown): ErrorCode | "none" => {
  try {
    f();
    return "none";
  } catch (e) {
    if (e instanceof ProtocolError) return e.code;
    throw e;
  }
};
const req = (h: Record<string, unknown>) => parseRequest([encodeHeader(h)]);

describe("codec", () => {
  it("headers are plain MessagePack maps; floats stay float64", () => {
    const h = { v: 1, ok: true, weights: { a: 0.1, b: 1 / 3 }, s: "é" };
    expect(decodeHeader(encodeHeader(h))).toEqual(h);
    // 0xcb = float64 marker: 1/3 must not be squeezed into float32.
    expect(encodeHeader({ x: 1 / 3 }).includes(0xcb)).toBe(true);
  });

  it("array frames are the raw little-endian bytes, one per `arrays` entry, and decode back", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { maxLength: 64 }),
        fc.array(fc.integer({ min: -32768, max: 32767 }), { maxLength: 64 }),
        (a, b) => {
          const i32 = Int32Array.from(a);
          const i16 = Int16Array.from(b);
          const [head, f1, f2] = encodeMessage({ v: 1, ok: true }, [
            { name: "a", array: i32, shape: [i32.length] },
            { name: "b", array: i16, shape: [1, i16.length] },
          ]);
          expect(Buffer.compare(f1, Buffer.from(i32.buffer))).toBe(0);
          const h = decodeHeader(head);
          expect(h.arrays).toEqual([
            { name: "a", dtype: "int32", shape: [i32.length] },
            { name: "b", dtype: "int16", shape: [1, i16.length] },
          ]);
          // Misaligned frames (odd byte offset) are copied, not mis-read.
          const shifted = Buffer.concat([Buffer.from([9]), f2]).subarray(1);
          const [da, db] = decodeArrays(h.arrays, [f1, shifted]);
          expect(Array.from(da.array as Int32Array)).toEqual(a);
          expect(Array.from(db.array as Int16Array)).toEqual(b);
        },
      ),
    );
  });

  it("a frame whose size does not match its shape and dtype is bad_request", () => {
    expect(codeOf(() => decodeArrays([{ name: "x", dtype: "int32", shape: [3] }], [new Uint8Array(8)]))).toBe("bad_request");
    expect(codeOf(() => decodeArrays([{ name: "x", dtype: "complex64", shape: [1] }], [new Uint8Array(8)]))).toBe("bad_request");
    expect(codeOf(() => decodeArrays([], [new Uint8Array(8)]))).toBe("bad_request");
  });
});

describe("request validation", () => {
  it("accepts every op of PROTOCOL.md", () => {
    expect(req({ v: 1, op: "hello", rank: 0, world: 2 })).toEqual({ v: 1, op: "hello", rank: 0, world: 2 });
    expect(req({ v: 1, op: "batch", step: 3, rank: 1 })).toEqual({ v: 1, op: "batch", step: 3, rank: 1 });
    expect(req({ v: 1, op: "state" })).toEqual({ v: 1, op: "state" });
    expect(req({ v: 1, op: "stats" })).toEqual({ v: 1, op: "stats" });
    expect(req({ v: 1, op: "feedback", step: 0, rank: 0, domains: { a: { loss_sum: 1, tokens: 2 } }, excess_loss_sum: { a: 0.5 }, lr: 1e-3 })).toMatchObject({
      op: "feedback",
      excess_loss_sum: { a: 0.5 },
      lr: 1e-3,
    });
  });

  it("undecodable frames, missing or mistyped fields and unknown ops are bad_request naming the field", () => {
    const cases: [Uint8Array, string][] = [
      [Buffer.from([0xc1]), "header"],
      [Buffer.from("not msgpack"), "header"],
      [encodeHeader([1, 2]), "header"],
      [encodeHeader({ op: "hello" }), "v"],
      [encodeHeader({ v: 1 }), "op"],
      [encodeHeader({ v: 1, op: "fly" }), "op"],
      [encodeHeader({ v: 1, op: "batch", rank: 0 }), "step"],
      [encodeHeader({ v: 1, op: "batch", step: "1", rank: 0 }), "step"],
      [encodeHeader({ v: 1, op: "batch", step: -1, rank: 0 }), "step"],
      [encodeHeader({ v: 1, op: "batch", step: 1.5, rank: 0 }), "step"],
      [encodeHeader({ v: 1, op: "hello", rank: 0, world: 0 }), "world"],
      [encodeHeader({ v: 1, op: "feedback", step: 0, rank: 0 }), "domains"],
      [encodeHeader({ v: 1, op: "feedback", step: 0, rank: 0, domains: { a: { tokens: 1 } } }), "domains.a.loss_sum"],
      [encodeHeader({ v: 1, op: "feedback", step: 0, rank: 0, domains: { a: { loss_sum: "1", tokens: 1 } } }), "domains.a.loss_sum"],
      [encodeHeader({ v: 1, op: "feedback", step: 0, rank: 0, domains: {}, lr: "x" }), "lr"],
    ];
    for (const [frame, field] of cases) {
      try {
        parseRequest([frame]);
        expect.unreachable(`accepted ${frame.toString()}`);
      } catch (e) {
        expect(e).toBeInstanceOf(ProtocolError);
        expect((e as ProtocolError).code).toBe("bad_request");
        expect((e as ProtocolError).field).toBe(field);
        expect((e as ProtocolError).message).toContain(field === "header" ? "frame 0" : field);
      }
    }
  });

  it("v other than 1 is unsupported_version", () => {
    expect(codeOf(() => req({ v: 2, op: "hello", rank: 0, world: 1 }))).toBe("unsupported_version");
    expect(codeOf(() => req({ v: "1", op: "stats" }))).toBe("unsupported_version");
  });

  it("feedback values: unknown_domain, invalid_feedback, and the optional maps merged per domain", () => {
    const domains = ["a", "b"];
    const fb = (extra: Record<string, unknown>) =>
      req({ v: 1, op: "feedback", step: 0, rank: 0, domains: { a: { loss_sum: 4, tokens: 2 } }, ...extra }) as FeedbackRequest;
    expect(checkFeedback(fb({ excess_loss_sum: { a: 1 } }), domains).get("a")).toEqual({ loss_sum: 4, tokens: 2, excess_loss_sum: 1 });
    expect(codeOf(() => checkFeedback(fb({ domains: { z: { loss_sum: 1, tokens: 1 } } }), domains))).toBe("unknown_domain");
    expect(codeOf(() => checkFeedback(fb({ excess_loss_sum: { z: 1 } }), domains))).toBe("unknown_domain");
    expect(codeOf(() => checkFeedback(fb({ excess_loss_sum: { b: 1 } }), domains))).toBe("bad_request");
    expect(codeOf(() => checkFeedback(fb({ domains: { a: { loss_sum: 1, tokens: 1, excess_loss_sum: 1 } }, excess_loss_sum: { a: 1 } }), domains))).toBe(
      "bad_request",
    );
    for (const bad of [
      { domains: { a: { loss_sum: NaN, tokens: 1 } } },
      { domains: { a: { loss_sum: Infinity, tokens: 1 } } },
      { domains: { a: { loss_sum: -1, tokens: 1 } } },
      { domains: { a: { loss_sum: 1, tokens: -1 } } },
      { domains: { a: { loss_sum: 1, tokens: 0.5 } } },
      { ref_loss_sum: { a: -2 } },
      { excess_loss_sum: { a: NaN } },
      { grad_alignment: { a: Infinity } },
      { lr: -1 },
    ]) {
      expect(
        codeOf(() => checkFeedback(fb(bad), domains)),
        JSON.stringify(bad),
      ).toBe("invalid_feedback");
    }
  });
});
