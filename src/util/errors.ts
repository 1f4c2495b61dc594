/**
 * Typed errors. Every error a user can cause names where it happened:
 * a config field path, or a file and line, so it can be fixed without a debugger.
 */

/** A configuration value is invalid (`path` = dotted field path). Defined with the mixer contract, which throws it too. */
export { ConfigError } from "../../mixers/contract.js";

/** Why a document could not be used. Also the key under which skips are counted in stats. */
export type DataErrorReason =
  | "malformed_json"
  | "invalid_utf8"
  | "missing_field"
  | "not_a_string"
  | "empty_document"
  | "unreadable_file"
  | "bad_format"
  /** A JSONL `metadata` field holds an object or array (metadata values are scalars). */
  | "bad_metadata"
  /** A pre-tokenized document holds an id outside the tokenizer's vocabulary [0, vocabSize). */
  | "token_out_of_range";

/**
 * Input data is bad. `file` and `line` point at it: a 1-based line number for line formats, or
 * `"row N"` (0-based) for row formats (Parquet, Arrow), printed as `file:line` / `file:row N`.
 */
export class DataError extends Error {
  constructor(
    readonly reason: DataErrorReason,
    readonly file: string,
    readonly line: number | `row ${number}` | undefined,
    detail: string,
  ) {
    super(`${file}${line === undefined ? "" : `:${line}`}: ${reason}: ${detail}`);
    this.name = "DataError";
  }
}
