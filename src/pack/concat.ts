/**
 * `concat`: the classic GPT-style baseline. Documents are laid end to end and the stream is cut
 * every seq_len tokens, so rows are always full but almost every row boundary cuts a document
 * (each cut is a truncation: the tail is trained without its beginning in context).
 */
import type { ItemLookup, StreamPacker, StreamPackerState } from "./streaming.js";
import type { PackItem, PackedRow } from "./types.js";

export class ConcatPacker implements StreamPacker {
  readonly seqLen: number;
  private cuts = 0;
  /** The partial row: pieces (views) and where each starts in its item. */
  private carry: PackItem[] = [];
  private carryOffsets: number[] = [];
  private carryLen = 0;

  constructor(seqLen: number) {
    if (!Number.isInteger(seqLen) || seqLen < 1) throw new RangeError(`ConcatPacker: seq_len must be a positive integer, got ${seqLen}`);
    this.seqLen = seqLen;
  }

  get truncations(): number {
    return this.cuts;
  }

  push(item: PackItem): PackedRow[] {
    const L = this.seqLen;
    const tokens = item.tokens;
    const n = tokens.length;
    const rows: PackedRow[] = [];
    let off = 0;
    while (off < n) {
      const take = Math.min(L - this.carryLen, n - off);
      this.carry.push(off === 0 && take === n ? item : { id: item.id, domain: item.domain, tokens: tokens.subarray(off, off + take) });
      this.carryOffsets.push(off);
      this.carryLen += take;
      off += take;
      if (this.carryLen === L) {
        rows.push({ items: this.carry });
        this.carry = [];
        this.carryOffsets = [];
        this.carryLen = 0;
        if (off < n) this.cuts++;
      }
    }
    return rows;
  }

  flush(): PackedRow[] {
    if (this.carry.length === 0) return [];
    const row: PackedRow = { items: this.carry };
    this.carry = [];
    this.carryOffsets = [];
    this.carryLen = 0;
    return [row];
  }

  state(): StreamPackerState {
    return { ids: this.carry.map((p) => p.id), offsets: this.carryOffsets.slice() };
  }

  restore(state: StreamPackerState, lookup: ItemLookup): void {
    if (state.ids.length !== state.offsets.length) {
      throw new RangeError(`ConcatPacker.restore: ${state.ids.length} ids but ${state.offsets.length} offsets`);
    }
    const carry: PackItem[] = [];
    let len = 0;
    for (let k = 0; k < state.ids.length; k++) {
      const item = lookup(state.ids[k]);
      const off = state.offsets[k];
      if (!(Number.isInteger(off) && off >= 0 && off < item.tokens.length)) {
        throw new RangeError(`ConcatPacker.restore: offset ${off} is outside item ${item.id} of ${item.tokens.length} tokens`);
      }
      carry.push(off === 0 ? item : { id: item.id, domain: item.domain, tokens: item.tokens.subarray(off) });
      len += item.tokens.length - off;
    }
    if (len >= this.seqLen) throw new RangeError(`ConcatPacker.restore: carried ${len} tokens, a partial row must hold fewer than ${this.seqLen}`);
    this.carry = carry;
    this.carryOffsets = state.offsets.slice();
    this.carryLen = len;
  }
}
