/**
 * Packing contract. The packer places document chunks (each ≤ seq_len tokens) into rows of
 * exactly seq_len tokens. It sees only lengths and opaque item ids; the loader owns the tokens.
 */

/** One piece of a document, at most seq_len tokens long. */
export interface PackItem {
  /** Loader-assigned, unique and increasing in arrival order; what the resume state records. */
  readonly id: number;
  readonly domain: number;
  readonly tokens: Int32Array;
}

/** One output row: items laid out left to right, then padding up to seq_len. */
export interface PackedRow {
  readonly items: readonly PackItem[];
}
