/**
 * The anchor of `bench/serve.ts`: a bare ZeroMQ ROUTER that answers every request with a
 * prebuilt reply of exactly the frame sizes of a mixload `batch` reply (header with the same
 * weights map, input_ids/targets/position_ids int32 [B, L], domain_ids int16 [B, L],
 * cu_seqlens int32 [S+1]). No decoding, no lookups: what ZeroMQ itself costs.
 *
 * With `fresh: true` every reply is a new copy of those frames, as a loader's replies are (new
 * data every step): the part of the latency tail that comes from moving freshly allocated
 * memory, not from anything mixload does.
 *
 *   node dist/bench/serve-raw.js '{"endpoint":"tcp://127.0.0.1:*","domains":64,"B":8,"L":4096,"segments":64}'
 * prints `{"endpoint": ...}` once bound.
 */
import * as zmq from "zeromq";
import { encodeMessage } from "../src/protocol/codec.js";

interface RawSpec {
  endpoint: string;
  domains: number;
  B: number;
  L: number;
  segments: number;
  fresh?: boolean;
}

const spec = JSON.parse(process.argv[2]) as RawSpec;
const weights: Record<string, number> = {};
for (let i = 0; i < spec.domains; i++) weights[`d${String(i).padStart(2, "0")}`] = 1 / spec.domains + i * 1e-9;
const n = spec.B * spec.L;
const reply = encodeMessage({ v: 1, ok: true, step: 123456, rank: 0, weights_version: 0, weights, max_seqlen: spec.L, tokens: n }, [
  { name: "input_ids", array: new Int32Array(n).fill(17), shape: [spec.B, spec.L] },
  { name: "targets", array: new Int32Array(n).fill(18), shape: [spec.B, spec.L] },
  { name: "position_ids", array: new Int32Array(n).fill(19), shape: [spec.B, spec.L] },
  { name: "domain_ids", array: new Int16Array(n).fill(3), shape: [spec.B, spec.L] },
  { name: "cu_seqlens", array: new Int32Array(spec.segments + 1), shape: [spec.segments + 1] },
]);

const router = new zmq.Router();
await router.bind(spec.endpoint);
process.stdout.write(`${JSON.stringify({ endpoint: router.lastEndpoint })}\n`);
const EMPTY = Buffer.alloc(0);
for await (const msg of router) {
  const delimited = msg.length >= 2 && msg[1].length === 0;
  const frames = spec.fresh === true ? reply.map((f) => Buffer.from(f)) : reply;
  await router.send(delimited ? [msg[0], EMPTY, ...frames] : [msg[0], ...frames]);
}
