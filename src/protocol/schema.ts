/**
 * The wire protocol as data: docs/protocol-schema.json, the one machine-readable description
 * that clients in other languages read instead of re-typing types.ts (the Python client loads
 * a copy shipped inside its package).
 *
 * It is built here from types.ts, never written by hand. The mapped types below make tsc fail
 * when an interface of types.ts gains, loses or changes the optionality of a field that the
 * schema does not list the same way; test/python/schema.test.ts fails when the JSON files are
 * stale and holds the listed value rules and rank aggregation to the service's own code.
 *
 * Regenerate both copies after changing types.ts:
 *
 *     npm run build && node dist/src/protocol/schema.js --write
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  BATCH_ARRAYS,
  DTYPES,
  ERROR_CODES,
  EXTENSION_OPS,
  OPS,
  OPTIONAL_SIGNALS,
  PROTOCOL_VERSION,
  PROVENANCE_ARRAYS,
  PROVENANCE_UNITS,
  WEIGHTS_TOPIC,
  type BatchReplyHeader,
  type BatchRequest,
  type DomainSignals,
  type ErrorReply,
  type FeedbackReply,
  type FeedbackRequest,
  type HelloReply,
  type HelloRequest,
  type Op,
  type OptionalSignal,
  type ProvenanceReplyHeader,
  type ProvenanceRequest,
  type StateReplyHeader,
  type StateRequest,
  type StatsReply,
  type StatsRequest,
  type WeightsMessage,
} from "./types.js";

/** What a field holds on the wire (MessagePack). `domain_map` = map of domain name → number. */
export type FieldType =
  | "const"
  | "integer"
  | "number"
  | "boolean"
  | "string"
  | "string_list"
  | "domain_map"
  | "domain_signals"
  | "array_specs"
  | "error"
  | "map"
  /** A list of `{file, unit}` maps (see provenance_units). */
  | "provenance_sources";

export interface FieldSpec<Required extends boolean = boolean> {
  type: FieldType;
  required: Required;
  /** For `type: "const"`: the only value allowed (`v: 1`, `op: "hello"`). */
  value?: string | number | boolean;
  /** True for mixload's additive extensions (PROTOCOL.md "mixload extensions"). */
  extension?: true;
  doc?: string;
}

/**
 * One spec per field of T, index signatures left out; `required` must be `true` exactly when
 * the field is not optional in T. A field added to T and not here, or listed here and not in
 * T, or with the wrong `required`, is a compile error.
 */
type Fields<T> = { [K in keyof T as string extends K ? never : K]-?: FieldSpec<{} extends Pick<T, K> ? false : true> };

/** How an optional feedback signal is checked (PROTOCOL.md "Checks") and combined over ranks. */
export interface SignalSpec {
  /** `nonnegative`: finite and ≥ 0; `finite`: any finite number. Anything else is `invalid_feedback`. */
  value: "nonnegative" | "finite";
  /** How the ranks of one step combine: summed, or averaged over the ranks that sent it. */
  ranks: "sum" | "mean";
  /** Accepted as a top-level map keyed by domain name and inside a domain's entry. */
  placement: ["top_level_map", "domain_entry"];
  extension?: true;
  doc: string;
}

// A domain entry is exactly loss_sum, tokens and the optional signals: if DomainSignals gets a
// field that is not an optional signal (or the other way round), this line stops compiling.
type Exact<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const DOMAIN_ENTRY_IS_CORE_PLUS_SIGNALS: Exact<keyof DomainSignals, "loss_sum" | "tokens" | OptionalSignal> = true;
void DOMAIN_ENTRY_IS_CORE_PLUS_SIGNALS;

const v = { type: "const", value: PROTOCOL_VERSION, required: true } as const;
const op = <O extends Op>(name: O) => ({ type: "const", value: name, required: true }) as const;
const signalMap = (doc: string, extension?: true): FieldSpec<false> =>
  extension ? { type: "domain_map", required: false, extension, doc } : { type: "domain_map", required: false, doc };

const requests = {
  hello: {
    v,
    op: op("hello"),
    rank: { type: "integer", required: true, doc: "0 ≤ rank < world" },
    world: { type: "integer", required: true, doc: "must equal the service's world size" },
  } satisfies Fields<HelloRequest>,
  batch: {
    v,
    op: op("batch"),
    step: { type: "integer", required: true },
    rank: { type: "integer", required: true },
  } satisfies Fields<BatchRequest>,
  feedback: {
    v,
    op: op("feedback"),
    step: { type: "integer", required: true },
    rank: { type: "integer", required: true },
    domains: {
      type: "domain_signals",
      required: true,
      doc: "domain name → {loss_sum, tokens, ...optional signals}; see feedback.domain_fields and feedback.optional_signals",
    },
    ref_loss_sum: signalMap("domain name → reference model's loss sum on the same tokens"),
    excess_loss_sum: signalMap("domain name → Σ max(loss − ref_loss, 0) over the tokens (DoReMi)"),
    grad_alignment: signalMap("domain name → gradient alignment (DoGE)"),
    eval_loss: signalMap("domain name → held-out mean loss per token (Velocitune)", true),
    lr: { type: "number", required: false, doc: "current learning rate, finite and ≥ 0" },
    all_ranks: {
      type: "boolean",
      required: false,
      extension: true,
      doc: "the feedback of every rank of the step, already reduced by the trainer (sums summed; grad_alignment and eval_loss averaged); sent once, it completes the step",
    },
  } satisfies Fields<FeedbackRequest>,
  state: {
    v,
    op: op("state"),
    step: { type: "integer", required: false, extension: true, doc: "resume at this step (in the window) instead of hello.next_step" },
  } satisfies Fields<StateRequest>,
  stats: { v, op: op("stats") } satisfies Fields<StatsRequest>,
  provenance: {
    v,
    op: op("provenance"),
    step: { type: "integer", required: true, doc: "a step still in the service's window (else step_out_of_range)" },
    rank: { type: "integer", required: true },
  } satisfies Fields<ProvenanceRequest>,
} satisfies Record<Op, Record<string, FieldSpec>>;

const domainFields = {
  loss_sum: { type: "number", required: true, doc: "Σ per-token training loss (nats) over `tokens` target positions; finite, ≥ 0" },
  tokens: { type: "integer", required: true, doc: "target positions of this domain in this rank's batch; ≥ 0" },
} satisfies Record<"loss_sum" | "tokens", FieldSpec<true>>;

const both: SignalSpec["placement"] = ["top_level_map", "domain_entry"];
const optionalSignals = {
  ref_loss_sum: { value: "nonnegative", ranks: "sum", placement: both, doc: "reference model's loss sum on the same tokens" },
  excess_loss_sum: { value: "nonnegative", ranks: "sum", placement: both, doc: "Σ max(loss − ref_loss, 0) over the tokens, for DoReMi" },
  grad_alignment: { value: "finite", ranks: "mean", placement: both, doc: "gradient alignment, for DoGE" },
  eval_loss: { value: "finite", ranks: "mean", placement: both, extension: true, doc: "held-out mean loss per token, for Velocitune" },
} satisfies Record<OptionalSignal, SignalSpec>;

const replies = {
  error: {
    v,
    ok: { type: "const", value: false, required: true },
    error: { type: "error", required: true, doc: "{code: one of error_codes, message, field? (extension)}" },
  } satisfies Fields<ErrorReply>,
  hello: {
    v,
    ok: { type: "const", value: true, required: true },
    run_id: { type: "string", required: true },
    domains: { type: "string_list", required: true, doc: "names in index order" },
    seq_len: { type: "integer", required: true },
    batch_size: { type: "integer", required: true, doc: "sequences per rank per step" },
    world: { type: "integer", required: true },
    next_step: { type: "integer", required: true },
    vocab_size: { type: "integer", required: true },
    eos_id: { type: "integer", required: true },
    pad_id: { type: "integer", required: true },
    weights: { type: "domain_map", required: true },
    feedback_lag: { type: "integer", required: true },
    mixer: { type: "string", required: false, extension: true },
    needs_feedback: { type: "boolean", required: false, extension: true },
    prefetch: { type: "integer", required: false, extension: true },
    keep_steps: { type: "integer", required: false, extension: true },
    weights_version: { type: "integer", required: false, extension: true },
  } satisfies Fields<HelloReply>,
  batch: {
    v,
    ok: { type: "const", value: true, required: true },
    step: { type: "integer", required: true },
    rank: { type: "integer", required: true },
    weights_version: { type: "integer", required: true },
    weights: { type: "domain_map", required: true },
    max_seqlen: { type: "integer", required: true },
    arrays: { type: "array_specs", required: true, doc: "see batch_arrays" },
    tokens: { type: "integer", required: false, extension: true, doc: "non-padding tokens in this rank's rows" },
  } satisfies Fields<BatchReplyHeader>,
  feedback: {
    v,
    ok: { type: "const", value: true, required: true },
    step: { type: "integer", required: true },
    complete: { type: "boolean", required: true, doc: "every rank has reported this step" },
  } satisfies Fields<FeedbackReply>,
  state: {
    v,
    ok: { type: "const", value: true, required: true },
    step: { type: "integer", required: true, doc: "the step the blob resumes at" },
    arrays: { type: "array_specs", required: true, doc: "one uint8 array `state`" },
  } satisfies Fields<StateReplyHeader>,
  stats: {
    v,
    ok: { type: "const", value: true, required: true },
    step: { type: "integer", required: true },
    weights: { type: "domain_map", required: true },
    achieved: { type: "domain_map", required: true },
    tokens_served: { type: "integer", required: true },
    fill_rate: { type: "number", required: true },
    documents: { type: "domain_map", required: true },
    epochs: { type: "domain_map", required: true },
  } satisfies Fields<StatsReply>,
  provenance: {
    v,
    ok: { type: "const", value: true, required: true },
    step: { type: "integer", required: true },
    rank: { type: "integer", required: true },
    segments: { type: "integer", required: true, doc: "entries in each of provenance_arrays" },
    sources: { type: "provenance_sources", required: true, doc: "[{file, unit}]: the files the `source` array indexes; unit is one of provenance_units" },
    arrays: { type: "array_specs", required: true, doc: "see provenance_arrays" },
  } satisfies Fields<ProvenanceReplyHeader>,
} satisfies Record<Op | "error", Record<string, FieldSpec>>;

const weightsMessage = {
  v,
  version: { type: "integer", required: true },
  effective_step: { type: "integer", required: true },
  weights: { type: "domain_map", required: true },
  mixer: { type: "string", required: true },
} satisfies Fields<WeightsMessage>;

/** The schema as a plain object (key order fixed, so its JSON text is reproducible). */
export function protocolSchema() {
  return {
    $comment:
      "Generated from src/protocol/types.ts by src/protocol/schema.ts (`node dist/src/protocol/schema.js --write`); do not edit. A copy ships in clients/python/mixload_client/.",
    protocol_version: PROTOCOL_VERSION,
    ops: [...OPS],
    /** Ops mixload adds to the contract (PROTOCOL.md "mixload extensions"); every field of theirs is an extension too. */
    extension_ops: [...EXTENSION_OPS],
    error_codes: [...ERROR_CODES],
    dtypes: [...DTYPES],
    weights_topic: WEIGHTS_TOPIC,
    requests,
    feedback: { domain_fields: domainFields, optional_signals: optionalSignals },
    batch_arrays: BATCH_ARRAYS.map((a) => ({ name: a.name, dtype: a.dtype })),
    provenance_arrays: PROVENANCE_ARRAYS.map((a) => ({ name: a.name, dtype: a.dtype })),
    provenance_units: [...PROVENANCE_UNITS],
    replies,
    // The asymmetry that keeps the protocol additive: new reply fields must not break old clients.
    rules: {
      requests:
        "a client sends only the fields listed under requests (and, inside a feedback domain entry, feedback.domain_fields and feedback.optional_signals); anything else is an error on the client's side",
      replies: "a client ignores reply fields it does not know: replies gain additive extensions",
    },
    weights_message: weightsMessage,
  };
}

export type ProtocolSchema = ReturnType<typeof protocolSchema>;

/** The exact text of docs/protocol-schema.json. */
export function protocolSchemaText(): string {
  return `${JSON.stringify(protocolSchema(), null, 2)}\n`;
}

/** Where the schema lives, relative to the repository root: the doc, and the Python package's copy. */
export const SCHEMA_FILES = ["docs/protocol-schema.json", "clients/python/mixload_client/protocol-schema.json"] as const;

/** The repository root: the nearest folder above this file with a package.json (works from src/ and dist/src/). */
function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, "package.json"))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
  return dir;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv[2] !== "--write") {
    process.stdout.write(protocolSchemaText());
  } else {
    const root = repoRoot();
    for (const f of SCHEMA_FILES) {
      fs.writeFileSync(path.join(root, f), protocolSchemaText());
      console.log(`wrote ${f}`);
    }
  }
}
