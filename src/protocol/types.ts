/**
 * The wire protocol, version 1 (docs/PROTOCOL.md): every header, error code and dtype in one
 * place. The service, the TypeScript client and the tests all speak through these types.
 */

export const PROTOCOL_VERSION = 1;

/** PROTOCOL.md "Replies and errors", in the order the contract lists them. */
export const ERROR_CODES = ["bad_request", "unsupported_version", "unknown_domain", "step_out_of_range", "not_ready", "invalid_feedback", "internal"] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export const DTYPES = ["uint8", "int8", "int16", "uint16", "int32", "uint32", "int64", "float32", "float64"] as const;
export type DType = (typeof DTYPES)[number];

export const OPS = ["hello", "batch", "feedback", "state", "stats", "provenance"] as const;
export type Op = (typeof OPS)[number];
/** The ops that are mixload's additive extensions, not the shared contract's. */
export const EXTENSION_OPS = ["provenance"] as const satisfies readonly Op[];

/** One entry of a header's `arrays` list; frame i+1 holds entry i's raw little-endian bytes. */
export interface ArraySpec {
  name: string;
  dtype: DType;
  shape: number[];
}

/** Domain name → value. */
export type DomainMap<T> = Record<string, T>;

// ---- requests -------------------------------------------------------------------------

export interface HelloRequest {
  v: 1;
  op: "hello";
  rank: number;
  world: number;
}

export interface BatchRequest {
  v: 1;
  op: "batch";
  step: number;
  rank: number;
}

/** One domain's signals from one rank. The optional fields may also come as top-level maps. */
export interface DomainSignals {
  loss_sum: number;
  tokens: number;
  ref_loss_sum?: number;
  excess_loss_sum?: number;
  grad_alignment?: number;
  /** (extension) held-out mean loss per token. */
  eval_loss?: number;
}

export const OPTIONAL_SIGNALS = ["ref_loss_sum", "excess_loss_sum", "grad_alignment", "eval_loss"] as const;
export type OptionalSignal = (typeof OPTIONAL_SIGNALS)[number];

export interface FeedbackRequest {
  v: 1;
  op: "feedback";
  step: number;
  rank: number;
  domains: DomainMap<{ loss_sum: number; tokens: number } & Partial<Record<OptionalSignal, number>>>;
  ref_loss_sum?: DomainMap<number>;
  excess_loss_sum?: DomainMap<number>;
  grad_alignment?: DomainMap<number>;
  /** (extension) */
  eval_loss?: DomainMap<number>;
  lr?: number;
  /**
   * (extension) This feedback is every rank's, already reduced across ranks by the trainer (an
   * all-reduce it does anyway for logging): loss_sum, tokens, ref_loss_sum and excess_loss_sum
   * summed, grad_alignment and eval_loss averaged. Sent once (by any rank; `rank` names the
   * sender), it completes the step, instead of one feedback per rank.
   */
  all_ranks?: boolean;
}

export interface StateRequest {
  v: 1;
  op: "state";
  /** (extension) resume at this step instead of hello.next_step. */
  step?: number;
}

export interface StatsRequest {
  v: 1;
  op: "stats";
}

/** (extension) Where every token of rank `rank`'s batch of `step` came from: one entry per document segment. */
export interface ProvenanceRequest {
  v: 1;
  op: "provenance";
  step: number;
  rank: number;
}

export type Request = HelloRequest | BatchRequest | FeedbackRequest | StateRequest | StatsRequest | ProvenanceRequest;

// ---- replies --------------------------------------------------------------------------

export interface ErrorReply {
  v: 1;
  ok: false;
  error: { code: ErrorCode; message: string; field?: string };
}

export interface HelloReply {
  v: 1;
  ok: true;
  run_id: string;
  domains: string[];
  seq_len: number;
  batch_size: number;
  world: number;
  next_step: number;
  vocab_size: number;
  eos_id: number;
  pad_id: number;
  weights: DomainMap<number>;
  feedback_lag: number;
  // extensions
  mixer?: string;
  needs_feedback?: boolean;
  prefetch?: number;
  keep_steps?: number;
  weights_version?: number;
}

/** The arrays of a `batch` reply, in wire order, with their dtypes (PROTOCOL.md `batch`). */
export const BATCH_ARRAYS = [
  { name: "input_ids", dtype: "int32" },
  { name: "targets", dtype: "int32" },
  { name: "position_ids", dtype: "int32" },
  { name: "domain_ids", dtype: "int16" },
  { name: "cu_seqlens", dtype: "int32" },
] as const satisfies readonly { name: string; dtype: DType }[];

export interface BatchReplyHeader {
  v: 1;
  ok: true;
  step: number;
  rank: number;
  weights_version: number;
  weights: DomainMap<number>;
  max_seqlen: number;
  arrays: ArraySpec[];
  /** (extension) non-padding tokens in this rank's rows. */
  tokens?: number;
}

export interface FeedbackReply {
  v: 1;
  ok: true;
  step: number;
  complete: boolean;
}

export interface StateReplyHeader {
  v: 1;
  ok: true;
  step: number;
  arrays: ArraySpec[];
}

export interface StatsReply {
  v: 1;
  ok: true;
  step: number;
  weights: DomainMap<number>;
  achieved: DomainMap<number>;
  tokens_served: number;
  fill_rate: number;
  documents: DomainMap<number>;
  epochs: DomainMap<number>;
  [extra: string]: unknown;
}

/**
 * (extension) The arrays of a `provenance` reply, in wire order: one entry per document segment of
 * the rank's rows (padding runs are not segments here), in row order, then column order.
 * `row` is the rank's own row (0..B−1), `col` the segment's first column, `source` an index into
 * the header's `sources`, `doc` the document's place in that file (what `sources[i].unit` says),
 * `offset` the token offset of the segment's first token inside its document (EOS included, as
 * served), `doc_length` the document's tokens.
 */
export const PROVENANCE_ARRAYS = [
  { name: "row", dtype: "int32" },
  { name: "col", dtype: "int32" },
  { name: "length", dtype: "int32" },
  { name: "domain", dtype: "int32" },
  { name: "source", dtype: "int32" },
  { name: "doc", dtype: "uint32" },
  { name: "epoch", dtype: "int32" },
  { name: "offset", dtype: "int32" },
  { name: "doc_length", dtype: "int32" },
] as const satisfies readonly { name: string; dtype: DType }[];

export type ProvenanceArrayName = (typeof PROVENANCE_ARRAYS)[number]["name"];

/** What a provenance `doc` counts: a 1-based line (JSONL, text paragraphs), a 0-based row (Parquet, Arrow), a 0-based document of the file. */
export const PROVENANCE_UNITS = ["line", "row", "document"] as const;
export type ProvenanceUnit = (typeof PROVENANCE_UNITS)[number];

/** One entry of a provenance reply's `sources` table. */
export interface ProvenanceSource {
  file: string;
  unit: ProvenanceUnit;
}

export interface ProvenanceReplyHeader {
  v: 1;
  ok: true;
  step: number;
  rank: number;
  /** Entries in each array. */
  segments: number;
  /** The files the `source` column indexes. */
  sources: ProvenanceSource[];
  arrays: ArraySpec[];
}

/** The PUB message on topic `weights`. */
export interface WeightsMessage {
  v: 1;
  version: number;
  effective_step: number;
  weights: DomainMap<number>;
  mixer: string;
}

export const WEIGHTS_TOPIC = "weights";

/** A failure that becomes an error reply; `field` names the offending field when there is one. */
export class ProtocolError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = "ProtocolError";
  }

  reply(): ErrorReply {
    const error: ErrorReply["error"] = { code: this.code, message: this.message };
    if (this.field !== undefined) error.field = this.field;
    return { v: 1, ok: false, error };
  }
}
