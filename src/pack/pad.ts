/**
 * `pad`: the other baseline. One document (or one ≤ seq_len piece of a long one) per row, the
 * rest padding. Only unavoidable cuts, but fill rate is mean length / seq_len.
 */
import { chunkItem } from "./chunk.js";
import type { ItemLookup, StreamPacker, StreamPackerState } from "./streaming.js";
import type { PackItem, PackedRow } from "./types.js";

export class PadPacker implements StreamPacker {
  readonly seqLen: number;
  private cuts = 0;

  constructor(seqLen: number) {
    if (!Number.isInteger(seqLen) || seqLen < 1) throw new RangeError(`PadPacker: seq_len must be a positive integer, got ${seqLen}`);
    this.seqLen = seqLen;
  }

  get truncations(): number {
    return this.cuts;
  }

  push(item: PackItem): PackedRow[] {
    if (item.tokens.length === 0) return [];
    const pieces = chunkItem(item, this.seqLen);
    this.cuts += pieces.length - 1;
    return pieces.map((p) => ({ items: [p] }));
  }

  flush(): PackedRow[] {
    return [];
  }

  /** Nothing is ever carried. */
  state(): StreamPackerState {
    return { ids: [], offsets: [] };
  }

  restore(state: StreamPackerState, _lookup: ItemLookup): void {
    if (state.ids.length !== 0 || state.offsets.length !== 0) {
      throw new RangeError(`PadPacker.restore: pad carries nothing, got ${state.ids.length} pieces`);
    }
  }
}
