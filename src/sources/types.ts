/**
 * The source contract: a source is a random-access list of documents.
 *
 * Random access (rather than a stream) is what makes resume O(1): the loader's
 * position in a domain is (epoch, position), the document at that position is
 * `permutation(epoch)[position]`, and it can be read back directly without
 * replaying anything. Sources build whatever index they need in `open`.
 */
import type { DataErrorReason } from "../util/errors.js";

/** A document as read from disk: text still to be tokenized, or token ids already. */
export type RawDocument =
  | { readonly kind: "text"; readonly text: string }
  | { readonly kind: "tokens"; readonly tokens: Int32Array };

/** A document that cannot be used, with where it is and why. Never thrown by `read`; the caller applies `on_error`. */
export interface BadDocument {
  readonly kind: "bad";
  readonly reason: DataErrorReason;
  readonly file: string;
  /** 1-based line for line-oriented formats. */
  readonly line?: number;
  readonly detail: string;
}

export interface DocumentSource {
  /** Human-readable identity (path or glob), used in stats and errors. */
  readonly description: string;
  /** Number of addressable documents (bad ones included: they are skipped when read, and counted). */
  readonly numDocuments: number;
  /** Read document `index` (0 ≤ index < numDocuments). Synchronous: sources use positioned reads on open fds. */
  read(index: number): RawDocument | BadDocument;
  close(): void;
}
