/**
 * The shape shared by the comparison packers (`concat`, `pad`): items go in one at a time in
 * arrival order, finished rows come out. Whatever a packer carries between calls is described
 * by (item id, offset) pairs only; tokens are fetched back from the loader on restore, so the
 * state stays small and free of token data.
 */
import type { PackItem, PackedRow } from "./types.js";

/** Carried pieces: piece k is tokens[offsets[k] ..] of item ids[k] (always up to the item's end). */
export interface StreamPackerState {
  readonly ids: number[];
  readonly offsets: number[];
}

/** Gives back the item with this id, as it was pushed. */
export type ItemLookup = (id: number) => PackItem;

export interface StreamPacker {
  readonly seqLen: number;
  /** Cuts made so far: a document continued in another row counts once per cut. */
  readonly truncations: number;
  /** Add the next item; returns the rows it completed (possibly none). */
  push(item: PackItem): PackedRow[];
  /** Emit whatever is carried as a padded row (none if nothing is carried). */
  flush(): PackedRow[];
  state(): StreamPackerState;
  /** Replace the carried pieces with those of `state` (which came from `state()` at some point). */
  restore(state: StreamPackerState, lookup: ItemLookup): void;
}
