/**
 * Streaming packers: turn a stream of documents into rows of exactly seq_len tokens.
 *
 * - best_fit (Ding et al. 2024, "Fewer Truncations Improve Language Modeling"): documents longer
 *   than L are cut into ⌈n/L⌉ chunks (the only truncations that cannot be avoided), chunks wait in
 *   a buffer of `buffer_docs`, and each round packs the whole buffer best-fit-decreasing
 *   (best-fit.ts). Rows filled below `min_fill` go back to the buffer to find better partners in
 *   the next round, at most `max_hold_rounds` times. Emitted rows are queued oldest-first.
 * - concat: concatenate documents and cut every L tokens (GPT-style; cuts documents freely).
 * - pad: one chunk per row, the rest padding.
 *
 * Everything a packer holds is a list of `StreamItem`s, and every item can be rebuilt from its
 * document's (domain, epoch, position) plus (offset, length): that is the resumable state, and
 * it is bounded by the buffer size, not by the number of steps served.
 */
import { BestFitPacker } from "./best-fit.js";
import type { PackItem, PackedRow } from "./types.js";
import type { DocumentMetadata } from "../sources/types.js";

/** A tokenized document as the loader hands it to the packer. */
export interface StreamDocument {
  readonly domain: number;
  readonly epoch: number;
  readonly position: number;
  readonly tokens: Int32Array;
  /** The source's per-document metadata, carried by reference with every piece (never copied). */
  readonly metadata?: DocumentMetadata;
}

/** A piece of a document, placed in a row. */
export interface StreamItem extends PackItem {
  readonly epoch: number;
  readonly position: number;
  /** Where the piece starts in its document, and the document's full length. */
  readonly offset: number;
  /** 0 for a document's first piece, then 1, 2, …: the last piece's number is the cuts made in it. */
  readonly piece: number;
  readonly docLength: number;
  /** Best-fit rounds this item has been held back. */
  held: number;
  /** Its document's metadata, if the source has any: held only while the item is in the buffer. */
  readonly metadata?: DocumentMetadata;
}

/** [id, domain, epoch, position, offset, length, docLength, held, piece]: an item without its tokens. */
export type ItemRef = [number, number, number, number, number, number, number, number, number];

export interface PackerState {
  nextId: number;
  /** Rows packed and waiting to be served. */
  queue: ItemRef[][];
  /** best_fit: chunks waiting for a round. concat: the row being filled. */
  pending: ItemRef[];
  /** concat: the rest of the document being cut, as [domain, epoch, position, offset, docLength, next piece]. */
  carry: [number, number, number, number, number, number] | null;
}

export interface PackingOptions {
  readonly strategy: "best_fit" | "concat" | "pad";
  readonly seqLen: number;
  readonly bufferDocs: number;
  readonly minFill: number;
  readonly maxHoldRounds: number;
}

/** Where documents come from (null: every domain is exhausted) and how a saved one is re-read. */
export interface DocumentFeed {
  next(): Promise<StreamDocument | null>;
  /** `next()` when the answer is at hand, else undefined (lets pre-tokenized input skip the await). */
  nextIfReady?(): StreamDocument | null | undefined;
  refetch(domain: number, epoch: number, position: number): Promise<{ tokens: Int32Array; metadata?: DocumentMetadata }>;
  /** Tokens each domain is owed in what has been served so far (w_i·served − served_i) and the current weights. */
  servedBalance?(): { owed: ArrayLike<number>; weights: ArrayLike<number> };
}

/** Documents pulled synchronously between two turns of the event loop. */
const YIELD_EVERY = 256;

export function toRef(item: StreamItem): ItemRef {
  return [item.id, item.domain, item.epoch, item.position, item.offset, item.tokens.length, item.docLength, item.held, item.piece];
}

export class StreamingPacker {
  private readonly queue: StreamItem[][] = [];
  private queueHead = 0;
  private pending: StreamItem[] = [];
  private carry: { doc: StreamDocument; offset: number; piece: number } | null = null;
  private nextId = 0;
  private exhausted = false;
  private readonly bestFit: BestFitPacker;
  private sinceYield = 0;

  constructor(
    private readonly options: PackingOptions,
    private readonly feed: DocumentFeed,
  ) {
    this.bestFit = new BestFitPacker(options.seqLen);
  }

  /**
   * The feed's next document; synchronous when it is at hand (most calls), so no await per
   * document — but every YIELD_EVERY documents it goes through the event loop once, so a service
   * running the loader keeps answering requests while a large buffer fills.
   */
  private nextDocument(): StreamDocument | null | Promise<StreamDocument | null> {
    if (++this.sinceYield >= YIELD_EVERY) {
      this.sinceYield = 0;
      return new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.feed.next());
    }
    const doc = this.feed.nextIfReady?.();
    return doc !== undefined ? doc : this.feed.next();
  }

  /** The next `n` rows; fewer only when every domain is exhausted (`on_exhausted: drop`). */
  async take(n: number): Promise<PackedRow[]> {
    while (this.queue.length - this.queueHead < n && !this.exhausted) {
      if (this.options.strategy === "best_fit") await this.bestFitRound();
      else if (this.options.strategy === "concat") await this.concatRow();
      else await this.padRows();
    }
    if (this.exhausted) this.flush();
    const rows = this.queue.slice(this.queueHead, this.queueHead + n).map((items) => ({ items }));
    this.queueHead += rows.length;
    if (this.queueHead > 1024) {
      this.queue.splice(0, this.queueHead);
      this.queueHead = 0;
    }
    return rows;
  }

  // ---- best fit ----

  /**
   * One best-fit round: top the buffer up to `buffer_docs` chunks, pack all of it, queue every
   * row filled ≥ min_fill, and return the chunks of the other rows to the buffer to find better
   * partners next round — at most `max_hold_rounds` times, so no chunk waits forever.
   */
  private async bestFitRound(): Promise<void> {
    const L = this.options.seqLen;
    while (this.pending.length < this.options.bufferDocs) {
      let doc = this.nextDocument();
      if (doc instanceof Promise) doc = await doc;
      if (doc === null) {
        this.exhausted = true;
        break;
      }
      for (const piece of this.cut(doc, L)) this.pending.push(piece);
    }
    if (this.pending.length === 0) return;
    const lengths = new Int32Array(this.pending.length);
    for (let i = 0; i < lengths.length; i++) lengths[i] = this.pending[i].tokens.length;
    const packed = this.bestFit.pack(lengths);
    const bins = this.groupAll(packed);
    const threshold = this.options.minFill * L;
    let emit: StreamItem[][] = [];
    let hold: StreamItem[] = [];
    bins.forEach((members, b) => {
      const patient = members.every((item) => item.held < this.options.maxHoldRounds);
      if (packed.binFill[b] < threshold && patient && !this.exhausted) hold.push(...members);
      else emit.push(members);
    });
    if (emit.length === 0) {
      // Nothing reached min_fill (a tiny buffer): emit everything rather than loop forever.
      emit = bins;
      hold = [];
    }
    for (const item of hold) item.held += 1;
    for (const row of emit) row.sort((a, b) => a.id - b.id); // arrival order within a row
    for (const row of this.balancedOrder(emit)) this.queue.push(row);
    hold.sort((a, b) => a.id - b.id);
    this.pending = hold;
  }

  /**
   * The order to serve a round's rows in. Best fit groups chunks by size, so rows differ in
   * domain make-up; serving them greedily — next the row whose tokens go most to the domains
   * currently under-served — keeps the served token shares on the weights at every step, not
   * only at round ends. Without a balance from the feed: oldest first.
   */
  private balancedOrder(rows: StreamItem[][]): StreamItem[][] {
    rows.sort((a, b) => a[0].id - b[0].id);
    const balance = this.feed.servedBalance?.();
    if (balance === undefined) return rows;
    const owed = Float64Array.from(balance.owed);
    const weights = balance.weights;
    const out: StreamItem[][] = [];
    const left = rows.slice();
    while (left.length > 0) {
      let best = 0;
      let bestScore = -Infinity;
      for (let r = 0; r < left.length; r++) {
        let score = 0;
        for (const item of left[r]) score += owed[item.domain] * item.tokens.length;
        if (score > bestScore) {
          bestScore = score;
          best = r;
        }
      }
      const row = left.splice(best, 1)[0];
      let total = 0;
      for (const item of row) {
        owed[item.domain] -= item.tokens.length;
        total += item.tokens.length;
      }
      for (let i = 0; i < owed.length; i++) owed[i] += weights[i] * total;
      out.push(row);
    }
    return out;
  }

  private groupAll(packed: { binCount: number; binStart: Int32Array; items: Int32Array }): StreamItem[][] {
    const rows: StreamItem[][] = [];
    for (let b = 0; b < packed.binCount; b++) {
      const members: StreamItem[] = [];
      for (let k = packed.binStart[b]; k < packed.binStart[b + 1]; k++) members.push(this.pending[packed.items[k]]);
      rows.push(members);
    }
    return rows;
  }

  /** Cut a document into pieces of at most `size` tokens starting at `from`. */
  private cut(doc: StreamDocument, size: number, from = 0): StreamItem[] {
    const pieces: StreamItem[] = [];
    for (let offset = from; offset < doc.tokens.length; offset += size) {
      pieces.push(this.item(doc, offset, Math.min(size, doc.tokens.length - offset), pieces.length));
    }
    return pieces;
  }

  private item(doc: StreamDocument, offset: number, length: number, piece: number): StreamItem {
    const item: StreamItem = {
      id: this.nextId++,
      domain: doc.domain,
      epoch: doc.epoch,
      position: doc.position,
      offset,
      piece,
      docLength: doc.tokens.length,
      // A whole document (the common case) needs no view of its own.
      tokens: offset === 0 && length === doc.tokens.length ? doc.tokens : doc.tokens.subarray(offset, offset + length),
      held: 0,
    };
    // Added in place, not spread into a copy: spread copies of these items measured 3–4× slower to
    // pack (select.throughput bench, every document carrying a score), likely slow-mode objects.
    return doc.metadata === undefined ? item : Object.assign(item, { metadata: doc.metadata });
  }

  // ---- concat ----

  private async concatRow(): Promise<void> {
    const L = this.options.seqLen;
    let fill = 0;
    for (const item of this.pending) fill += item.tokens.length;
    while (fill < L) {
      if (this.carry === null) {
        let doc = this.nextDocument();
        if (doc instanceof Promise) doc = await doc;
        if (doc === null) {
          this.exhausted = true;
          return;
        }
        this.carry = { doc, offset: 0, piece: 0 };
      }
      const { doc, offset, piece } = this.carry;
      const length = Math.min(L - fill, doc.tokens.length - offset);
      this.pending.push(this.item(doc, offset, length, piece));
      fill += length;
      this.carry = offset + length === doc.tokens.length ? null : { doc, offset: offset + length, piece: piece + 1 };
    }
    this.queue.push(this.pending);
    this.pending = [];
  }

  // ---- pad ----

  private async padRows(): Promise<void> {
    let doc = this.nextDocument();
    if (doc instanceof Promise) doc = await doc;
    if (doc === null) {
      this.exhausted = true;
      return;
    }
    for (const piece of this.cut(doc, this.options.seqLen)) this.queue.push([piece]);
  }

  /** At the very end, whatever is pending becomes rows too, so nothing read is lost. */
  private flush(): void {
    if (this.pending.length === 0) return;
    if (this.options.strategy === "concat") this.queue.push(this.pending);
    else for (const piece of this.pending) this.queue.push([piece]);
    this.pending = [];
  }

  // ---- state ----

  state(): PackerState {
    return {
      nextId: this.nextId,
      queue: this.queue.slice(this.queueHead).map((row) => row.map(toRef)),
      pending: this.pending.map(toRef),
      carry:
        this.carry === null
          ? null
          : [this.carry.doc.domain, this.carry.doc.epoch, this.carry.doc.position, this.carry.offset, this.carry.doc.tokens.length, this.carry.piece],
    };
  }

  /** Rebuild from a saved state, re-reading each referenced document once. */
  async restore(state: PackerState): Promise<void> {
    const docs = new Map<string, Promise<{ tokens: Int32Array; metadata?: DocumentMetadata }>>();
    const load = (domain: number, epoch: number, position: number, docLength: number): Promise<{ tokens: Int32Array; metadata?: DocumentMetadata }> => {
      const key = `${domain}/${epoch}/${position}`;
      let doc = docs.get(key);
      if (doc === undefined) {
        doc = this.feed.refetch(domain, epoch, position).then((d) => {
          if (d.tokens.length !== docLength)
            throw new Error(`state refers to document ${key} of ${docLength} tokens but it now has ${d.tokens.length}: the data or tokenizer changed`);
          return d;
        });
        docs.set(key, doc);
      }
      return doc;
    };
    const rebuild = async (ref: ItemRef): Promise<StreamItem> => {
      const [id, domain, epoch, position, offset, length, docLength, held, piece] = ref;
      const { tokens, metadata } = await load(domain, epoch, position, docLength);
      const item: StreamItem = { id, domain, epoch, position, offset, piece, docLength, held, tokens: tokens.subarray(offset, offset + length) };
      return metadata === undefined ? item : Object.assign(item, { metadata });
    };
    this.queue.length = 0;
    this.queueHead = 0;
    for (const row of state.queue) this.queue.push(await Promise.all(row.map(rebuild)));
    this.pending = await Promise.all(state.pending.map(rebuild));
    this.carry = null;
    if (state.carry !== null) {
      const [domain, epoch, position, offset, docLength, piece] = state.carry;
      this.carry = { doc: { domain, epoch, position, ...(await load(domain, epoch, position, docLength)) }, offset, piece };
    }
    this.nextId = state.nextId;
    this.exhausted = false;
  }
}
