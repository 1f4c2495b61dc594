/**
 * Protocol fuzzing: 10,000 malformed requests (random frames, non-MessagePack bytes, wrong
 * types, missing fields, absurd steps and ranks, huge declared arrays, undeclared frames, wrong
 * protocol versions, unknown ops, hostile map keys) against one running service. Each gets an
 * error reply with the code PROTOCOL.md assigns; afterwards the service still serves, its state
 * blob is byte-identical to the one taken before, and its next batches equal those of a twin
 * resumed from that blob that never saw the fuzz.
 */
import fc from "fast-check";
import * as zmq from "zeromq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MixloadClient } from "../../src/client/client.js";
import { loadConfig } from "../../src/config/load.js";
import { decodeHeader, encodeHeader, type ErrorCode } from "../../src/protocol/index.js";
import { MixloadService } from "../../src/serve/service.js";
import { sha, tempDir, train, writeConfig, writeCorpus } from "./harness.js";

const RUNS = 10_000;
const dir = tempDir();
let service: MixloadService;
let twin: MixloadService | undefined;
let client: MixloadClient;
let dealer: zmq.Dealer;
let blobBefore: Uint8Array;
let configFile: string;

beforeAll(async () => {
  const corpus = writeCorpus(dir, [60, 40, 50], 300);
  configFile = writeConfig(dir, corpus, "fuzz");
  service = await MixloadService.open(loadConfig(configFile));
  client = new MixloadClient({ endpoint: service.controlEndpoint, timeoutMs: 20_000, notReadyWaitMs: 20_000 });
  await train(client, 0, 4);
  blobBefore = (await client.state()).state;
  dealer = new zmq.Dealer({ linger: 0, receiveTimeout: 20_000 });
  dealer.connect(service.controlEndpoint);
}, 120_000);

afterAll(async () => {
  dealer?.close();
  client?.close();
  await twin?.close({ writeState: false });
  await service?.close({ writeState: false });
});

// ---- generators -------------------------------------------------------------------------

interface Case {
  kind: string;
  /** Frames after the empty delimiter. */
  body: Buffer[];
  codes: readonly ErrorCode[];
  field?: string;
}

const enc = (h: unknown): Buffer => encodeHeader(h as object);
const ANY_DECODE: readonly ErrorCode[] = ["bad_request", "unsupported_version"];

const wrongValue = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.double({ noInteger: true }),
  fc.constantFrom(null, true, false, -1, -1000, 2 ** 53, 2 ** 64, 1e300, -Infinity, Infinity, NaN, 0.5),
  fc.array(fc.nat(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.nat(), { maxKeys: 2 }),
  fc.uint8Array({ maxLength: 8 }),
);
/** `domains` must be a map: every wrong value but a map (a map with bad entries is another case). */
const notAMap = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.double(),
  fc.constantFrom(null, true, -1),
  fc.array(fc.nat(), { maxLength: 3 }),
  fc.uint8Array({ maxLength: 8 }),
);
const notANumber = fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom(null, true), fc.array(fc.nat(), { maxLength: 2 }), fc.uint8Array({ maxLength: 4 }));

const validFeedback = { step: 1, rank: 0, domains: { alpha: { loss_sum: 1, tokens: 1 } } };
const valid: Record<string, Record<string, unknown>> = {
  hello: { v: 1, op: "hello", rank: 0, world: 2 },
  batch: { v: 1, op: "batch", step: 4, rank: 0 },
  state: { v: 1, op: "state", step: 4 },
  stats: { v: 1, op: "stats" },
  feedback: { v: 1, op: "feedback", ...validFeedback },
};
const required: Record<string, string[]> = { hello: ["rank", "world"], batch: ["step", "rank"], feedback: ["step", "rank", "domains"], state: [], stats: [] };
const withFields: [string, string][] = [
  ["hello", "rank"],
  ["hello", "world"],
  ["batch", "step"],
  ["batch", "rank"],
  ["state", "step"],
  ["feedback", "step"],
  ["feedback", "rank"],
  ["feedback", "domains"],
];

const cases: fc.Arbitrary<Case>[] = [
  fc
    .array(fc.uint8Array({ maxLength: 96 }), { minLength: 0, maxLength: 4 })
    .map((fs) => ({ kind: "random frames", body: fs.map((f) => Buffer.from(f)), codes: ANY_DECODE })),
  fc.string({ minLength: 1, maxLength: 64 }).map((s) => ({ kind: "non-msgpack text", body: [Buffer.from(s)], codes: ANY_DECODE })),
  fc
    .oneof(fc.array(fc.nat()), fc.string(), fc.double(), fc.constant(null), fc.boolean())
    .map((x) => ({ kind: "msgpack, not a map", body: [enc(x)], codes: ["bad_request"], field: "header" })),
  fc
    .constantFrom(...withFields)
    .chain(([op, f]) => (f === "domains" ? notAMap : wrongValue).map((x): [[string, string], unknown] => [[op, f], x]))
    .map(([[op, f], x]) => {
      const h = { ...valid[op], [f]: x };
      return { kind: "wrong type", body: [enc(h)], codes: ["bad_request"], field: f } as Case;
    }),
  fc.constantFrom(...Object.keys(required).flatMap((op) => required[op].map((f) => [op, f] as const))).map(([op, f]) => {
    const h: Record<string, unknown> = { ...valid[op] };
    delete h[f];
    return { kind: "missing field", body: [enc(h)], codes: ["bad_request"], field: f };
  }),
  fc.tuple(fc.constantFrom("batch", "state", "feedback"), fc.integer({ min: 1000, max: Number.MAX_SAFE_INTEGER })).map(([op, step]) => ({
    kind: "absurd step",
    body: [enc({ ...valid[op], step })],
    codes: ["step_out_of_range"],
    field: "step",
  })),
  fc.tuple(fc.constantFrom("hello", "batch", "feedback"), fc.integer({ min: 2, max: Number.MAX_SAFE_INTEGER })).map(([op, rank]) => ({
    kind: "absurd rank",
    body: [enc({ ...valid[op], rank })],
    codes: ["bad_request"],
    field: "rank",
  })),
  fc
    .tuple(fc.constantFrom(...Object.keys(valid)), fc.oneof(fc.constantFrom(0, 2, -1, 1.5, "1", null, true, 2 ** 40), fc.array(fc.nat(), { maxLength: 2 })))
    .map(([op, v]) => ({
      kind: "wrong version",
      body: [enc({ ...valid[op], v })],
      codes: ["unsupported_version"],
      field: "v",
    })),
  fc.constantFrom(...Object.keys(valid)).map((op) => {
    const h: Record<string, unknown> = { ...valid[op] };
    delete h.v;
    return { kind: "no version", body: [enc(h)], codes: ["bad_request"], field: "v" } as Case;
  }),
  fc
    .oneof(
      fc.string({ maxLength: 12 }).filter((s) => !Object.keys(valid).includes(s)),
      fc.constantFrom("HELLO", "Batch", "__proto__", "constructor", "toString", 7, null),
    )
    .map((op) => ({
      kind: "unknown op",
      body: [enc({ v: 1, op })],
      codes: ["bad_request"],
      field: "op",
    })),
  fc
    .tuple(
      fc.constantFrom(...Object.keys(valid)),
      fc.constantFrom("int8", "float64", "uint8", "complex128", 7),
      fc.oneof(fc.constant([1e9, 1e9]), fc.constant([2 ** 60]), fc.constant([-1]), fc.array(fc.nat({ max: 1 << 20 }), { minLength: 1, maxLength: 4 })),
      fc.nat({ max: 256 }),
    )
    .map(([op, dtype, shape, n]) => {
      const size = shape.reduce((a, b) => a * b, 1) * (dtype === "float64" ? 8 : 1);
      return {
        kind: "huge declared array",
        // never the size the declaration asks for: that would be a (pointless but) well-formed frame
        body: [enc({ ...valid[op], arrays: [{ name: "x", dtype, shape }] }), Buffer.alloc(size === n ? n + 1 : n)],
        codes: ["bad_request"],
      } as Case;
    }),
  fc.tuple(fc.constantFrom(...Object.keys(valid)), fc.integer({ min: 10_000, max: 200_000 })).map(([op, n]) => ({
    kind: "huge field array",
    body: [enc({ ...valid[op], [op === "stats" ? "arrays" : (required[op][0] ?? "step")]: new Array(n).fill(1) })],
    codes: ["bad_request"],
  })),
  fc.tuple(fc.constantFrom(...Object.keys(valid)), fc.array(fc.nat({ max: 1 << 16 }), { minLength: 1, maxLength: 3 })).map(([op, sizes]) => ({
    kind: "undeclared frames",
    body: [enc(valid[op]), ...sizes.map((n) => Buffer.alloc(n, 7))],
    codes: ["bad_request"],
    field: "arrays",
  })),
  fc
    .tuple(fc.constantFrom("__proto__", "constructor", "toString", "hasOwnProperty", "", "ALPHA", "alpha "), fc.constantFrom("domains", "excess_loss_sum"))
    .map(([name, where]) => ({
      kind: "hostile domain name",
      body: [
        enc(
          where === "domains"
            ? { v: 1, op: "feedback", step: 1, rank: 0, domains: { [name]: { loss_sum: 1, tokens: 1 } } }
            : { v: 1, op: "feedback", ...validFeedback, excess_loss_sum: { [name]: 1 } },
        ),
      ],
      codes: ["unknown_domain"],
    })),
  fc.tuple(fc.constantFrom("loss_sum", "tokens"), notANumber).map(([f, x]) => ({
    kind: "feedback value of the wrong type",
    body: [enc({ v: 1, op: "feedback", step: 1, rank: 0, domains: { alpha: { loss_sum: 1, tokens: 1, [f]: x } } })],
    codes: ["bad_request"],
    field: `domains.alpha.${f}`,
  })),
];

// ---- the fuzz -----------------------------------------------------------------------------

async function ask(body: Buffer[]): Promise<Record<string, unknown>> {
  await dealer.send([Buffer.alloc(0), ...body]);
  const reply = await dealer.receive();
  expect(reply[0].length).toBe(0); // the delimiter comes back
  return decodeHeader(reply[1]);
}

describe("protocol fuzzing", () => {
  it(`${RUNS.toLocaleString("en")} malformed requests: the right error code each, the service keeps its state`, async () => {
    const tried = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fc.oneof(...cases), async (c) => {
        const h = await ask(c.body);
        expect(h.v).toBe(1);
        expect(h.ok).toBe(false);
        const err = h.error as { code: ErrorCode; message: unknown; field?: unknown };
        expect(c.codes, `${c.kind}: ${String(err.message)}`).toContain(err.code);
        expect(typeof err.message).toBe("string");
        if (c.field !== undefined) expect(String(err.field)).toBe(c.field);
        tried.set(c.kind, (tried.get(c.kind) ?? 0) + 1);
      }),
      { numRuns: RUNS, seed: 7 },
    );
    const total = [...tried.values()].reduce((a, b) => a + b, 0);
    expect(total).toBe(RUNS);
    console.log(`fuzz: ${total} malformed requests handled: ${[...tried].map(([k, n]) => `${k} ${n}`).join(", ")}`);

    // Nothing moved: the same state blob, byte for byte ...
    const after = (await client.state()).state;
    expect(sha(after)).toBe(sha(blobBefore));
    // ... and the next batches are those of a twin resumed from the pre-fuzz blob.
    const fuzzed = await train(client, 4, 8);
    twin = await MixloadService.open(loadConfig(configFile), {
      resume: blobBefore,
      control: `ipc://${dir}/twin-control.sock`,
      weights: `ipc://${dir}/twin-weights.sock`,
      runDir: `${dir}/twin-run`,
    });
    const twinClient = new MixloadClient({ endpoint: twin.controlEndpoint, timeoutMs: 20_000, notReadyWaitMs: 20_000 });
    expect(await train(twinClient, 4, 8)).toEqual(fuzzed);
    twinClient.close();
  }, 300_000);
});
