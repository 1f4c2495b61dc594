/**
 * Strict request validation. Structure problems (undecodable, missing or mistyped fields,
 * unknown op) are `bad_request` naming the field; a wrong `v` is `unsupported_version`.
 * Feedback values are checked separately against the run's domains (`checkFeedback`), so
 * the codes come out in the order docs/PROTOCOL.md gives.
 */
import { decodeArrays, decodeHeader, describe } from "./codec.js";
import { OPS, OPTIONAL_SIGNALS, PROTOCOL_VERSION, ProtocolError, type DomainSignals, type FeedbackRequest, type Request } from "./types.js";

const bad = (field: string, message: string): ProtocolError => new ProtocolError("bad_request", `${field}: ${message}`, field);

function isMap(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x) && !(x instanceof Uint8Array);
}

function int(h: Record<string, unknown>, field: string, min = 0): number {
  const x = h[field];
  if (x === undefined) throw bad(field, "missing");
  if (typeof x !== "number" || !Number.isSafeInteger(x)) throw bad(field, `must be an integer, got ${describe(x)}`);
  if (x < min) throw bad(field, `must be ≥ ${min}, got ${x}`);
  return x;
}

function num(x: unknown, field: string): number {
  if (typeof x !== "number") throw bad(field, `must be a number, got ${describe(x)}`);
  return x;
}

/** Decode and validate a request message (frame 0 + array frames). */
export function parseRequest(frames: readonly Uint8Array[]): Request {
  if (frames.length === 0) throw bad("header", "empty message");
  const h = decodeHeader(frames[0]);
  if (!("v" in h)) throw bad("v", "missing (every header carries v: 1)");
  if (h.v !== PROTOCOL_VERSION)
    throw new ProtocolError("unsupported_version", `protocol version ${describe(h.v)} is not supported; this service speaks v: ${PROTOCOL_VERSION}`, "v");
  decodeArrays(h.arrays, frames.slice(1)); // requests carry no arrays; extra frames must be declared
  const op = h.op;
  if (op === undefined) throw bad("op", "missing");
  if (typeof op !== "string" || !(OPS as readonly string[]).includes(op)) throw bad("op", `unknown op ${describe(op)} (known: ${OPS.join(", ")})`);
  switch (op) {
    case "hello":
      return { v: 1, op, rank: int(h, "rank"), world: int(h, "world", 1) };
    case "batch":
      return { v: 1, op, step: int(h, "step"), rank: int(h, "rank") };
    case "state":
      return h.step === undefined ? { v: 1, op } : { v: 1, op, step: int(h, "step") };
    case "stats":
      return { v: 1, op };
    case "feedback":
      return parseFeedback(h);
    case "provenance":
      return { v: 1, op, step: int(h, "step"), rank: int(h, "rank") };
  }
  throw bad("op", `unknown op ${describe(op)}`);
}

function parseFeedback(h: Record<string, unknown>): FeedbackRequest {
  const req: FeedbackRequest = { v: 1, op: "feedback", step: int(h, "step"), rank: int(h, "rank"), domains: {} };
  if (h.domains === undefined) throw bad("domains", "missing");
  if (!isMap(h.domains)) throw bad("domains", `must be a map of domain name to {loss_sum, tokens}, got ${describe(h.domains)}`);
  for (const [name, entry] of Object.entries(h.domains)) {
    const where = `domains.${name}`;
    if (!isMap(entry)) throw bad(where, `must be a map {loss_sum, tokens}, got ${describe(entry)}`);
    if (entry.loss_sum === undefined) throw bad(`${where}.loss_sum`, "missing");
    if (entry.tokens === undefined) throw bad(`${where}.tokens`, "missing");
    const out: FeedbackRequest["domains"][string] = { loss_sum: num(entry.loss_sum, `${where}.loss_sum`), tokens: num(entry.tokens, `${where}.tokens`) };
    for (const f of OPTIONAL_SIGNALS) if (entry[f] !== undefined) out[f] = num(entry[f], `${where}.${f}`);
    for (const key of Object.keys(entry)) {
      if (key !== "loss_sum" && key !== "tokens" && !(OPTIONAL_SIGNALS as readonly string[]).includes(key)) throw bad(`${where}.${key}`, "unknown field");
    }
    req.domains[name] = out;
  }
  for (const f of OPTIONAL_SIGNALS) {
    const m = h[f];
    if (m === undefined) continue;
    if (!isMap(m)) throw bad(f, `must be a map of domain name to number, got ${describe(m)}`);
    const out: Record<string, number> = {};
    for (const [name, x] of Object.entries(m)) out[name] = num(x, `${f}.${name}`);
    req[f] = out;
  }
  if (h.lr !== undefined) req.lr = num(h.lr, "lr");
  if (h.all_ranks !== undefined) {
    if (typeof h.all_ranks !== "boolean") throw bad("all_ranks", `must be a boolean, got ${describe(h.all_ranks)}`);
    if (h.all_ranks) req.all_ranks = true;
  }
  return req;
}

const finite = (x: number): boolean => Number.isFinite(x);

/**
 * Check a parsed feedback request against the run's domains and merge the optional top-level
 * maps into per-domain signals: unknown names → `unknown_domain`, bad values → `invalid_feedback`,
 * a field given twice or a map key absent from `domains` → `bad_request`.
 */
export function checkFeedback(req: FeedbackRequest, domains: readonly string[]): Map<string, DomainSignals> {
  const known = new Set(domains);
  const unknown = (name: string, field: string): ProtocolError =>
    new ProtocolError("unknown_domain", `${field}: unknown domain ${JSON.stringify(name)} (domains: ${domains.join(", ")})`, field);
  const invalid = (field: string, value: number, what: string): ProtocolError => new ProtocolError("invalid_feedback", `${field} = ${value}: ${what}`, field);

  const out = new Map<string, DomainSignals>();
  for (const [name, entry] of Object.entries(req.domains)) {
    if (!known.has(name)) throw unknown(name, `domains.${name}`);
    out.set(name, { ...entry });
  }
  for (const f of OPTIONAL_SIGNALS) {
    const m = req[f];
    if (m === undefined) continue;
    for (const [name, x] of Object.entries(m)) {
      if (!known.has(name)) throw unknown(name, `${f}.${name}`);
      const s = out.get(name);
      if (s === undefined) throw bad(`${f}.${name}`, `domain ${JSON.stringify(name)} is not in domains`);
      if (s[f] !== undefined) throw bad(`${f}.${name}`, `given both in ${f} and in domains.${name}`);
      s[f] = x;
    }
  }
  for (const [name, s] of out) {
    const w = `domains.${name}`;
    if (!(finite(s.loss_sum) && s.loss_sum >= 0)) throw invalid(`${w}.loss_sum`, s.loss_sum, "must be a finite non-negative loss sum");
    if (!(Number.isSafeInteger(s.tokens) && s.tokens >= 0)) throw invalid(`${w}.tokens`, s.tokens, "must be a non-negative integer");
    for (const f of ["ref_loss_sum", "excess_loss_sum"] as const) {
      const x = s[f];
      if (x !== undefined && !(finite(x) && x >= 0)) throw invalid(`${f}.${name}`, x, "must be a finite non-negative sum");
    }
    for (const f of ["grad_alignment", "eval_loss"] as const) {
      const x = s[f];
      if (x !== undefined && !finite(x)) throw invalid(`${f}.${name}`, x, "must be finite");
    }
  }
  if (req.lr !== undefined && !(finite(req.lr) && req.lr >= 0)) throw invalid("lr", req.lr, "must be finite and ≥ 0");
  return out;
}
