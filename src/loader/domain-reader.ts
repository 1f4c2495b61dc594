/**
 * One domain's documents, in a fresh seeded order every epoch, tokenized ahead of use.
 *
 * A domain is a list of sources seen as one index space [0, N). The document at
 * (epoch e, position p) is `sources[permutation_e(p)]`, where permutation_e is a Feistel
 * permutation keyed by (seed, domain, epoch) — so the reader's whole state is (epoch, position)
 * and resuming costs nothing however far the run got.
 *
 * Tokenization runs ahead in blocks on the worker pool; blocks are consumed in position order,
 * so which worker finished first never matters.
 *
 * Reading ahead (file reads, tag stripping and JSON parsing happen when a block is requested) is
 * either done as documents are consumed, or — with `deferReadAhead`, for an owner that has idle
 * time between steps (the serve builder thread) — kept to one block during consumption and
 * finished by `readAheadOne()` when idle, so a best-fit round that drains thousands of documents
 * does not also read thousands.
 *
 * Bad documents (see sources/types.ts) either stop the run with a DataError naming file:line
 * (`on_error: fail`) or are skipped and counted by reason (`on_error: skip`) — at consumption
 * time, so the counts are part of the resumable state.
 */
import type { DocumentSource, RawDocument, BadDocument } from "../sources/types.js";
import type { EncodeTicket, TokenizerPool } from "../tokenize/pool.js";
import { FeistelPermutation } from "../sample/permutation.js";
import { hashInts } from "../util/hash.js";
import { DataError } from "../util/errors.js";

/** Where a document sits in the domain's stream: its epoch and position in that epoch's order. */
export interface DocPosition {
  readonly epoch: number;
  readonly position: number;
}

export interface DomainDocument extends DocPosition {
  readonly domain: number;
  readonly tokens: Int32Array;
}

export interface DomainReaderState {
  epoch: number;
  position: number;
  exhausted: boolean;
  skipped: Record<string, number>;
}

type Fetched = Int32Array | BadDocument;

/** A run of consecutive positions being read and tokenized; `results` is set once they are ready. */
interface Block {
  results: Fetched[] | null;
  error: unknown;
  readonly ready: Promise<void>;
  /** The pool request behind it (texts only), to expedite when someone waits on this block. */
  readonly ticket?: EncodeTicket;
}

/**
 * Documents tokenized per pool request: large enough to amortise messaging, small enough to stay
 * responsive. Without workers, tokenizing ahead buys nothing, so the block and lookahead shrink.
 */
const BLOCK_DOCS = 64;
const INLINE_BLOCK_DOCS = 4;

export class DomainReader {
  readonly numDocuments: number;
  /** Documents per tokenizer request, and how many to keep tokenizing ahead of use. */
  private readonly blockDocs: number;
  private readonly lookahead: number;
  private readonly sourceStarts: number[] = [];
  private epoch = 0;
  private position = 0;
  private exhausted = false;
  private skipped: Record<string, number> = {};
  private permutation: FeistelPermutation;
  /** Blocks in flight, in position order; the first one starts at (epoch, position) minus what was consumed of it. */
  private blocks: Block[] = [];
  private frontConsumed = 0;
  /** Bad documents in a row; a whole epoch of them means the domain is unusable. */
  private badInARow = 0;
  /** Where the next block to request starts. */
  private aheadEpoch = 0;
  private aheadPosition = 0;
  /** Documents kept requested ahead while consuming: `lookahead`, or one block with `deferReadAhead`. */
  private readonly consumeLookahead: number;

  constructor(
    readonly index: number,
    readonly name: string,
    private readonly sources: readonly DocumentSource[],
    private readonly seed: number,
    private readonly pool: TokenizerPool,
    private readonly onError: "fail" | "skip",
    private readonly onExhausted: "repeat" | "drop",
    deferReadAhead = false,
  ) {
    this.blockDocs = pool.numWorkers === 0 ? INLINE_BLOCK_DOCS : BLOCK_DOCS;
    this.lookahead = pool.numWorkers === 0 ? INLINE_BLOCK_DOCS : 4 * BLOCK_DOCS;
    this.consumeLookahead = deferReadAhead ? this.blockDocs : this.lookahead;
    let total = 0;
    for (const s of sources) {
      this.sourceStarts.push(total);
      total += s.numDocuments;
    }
    if (total === 0) throw new DataError("empty_document", sources.map((s) => s.description).join(", "), undefined, `domain ${JSON.stringify(name)} has no documents`);
    this.numDocuments = total;
    this.permutation = this.permutationFor(0);
  }

  get isExhausted(): boolean {
    return this.exhausted;
  }

  get currentEpoch(): number {
    return this.epoch;
  }

  state(): DomainReaderState {
    return { epoch: this.epoch, position: this.position, exhausted: this.exhausted, skipped: { ...this.skipped } };
  }

  restore(state: DomainReaderState): void {
    this.epoch = state.epoch;
    this.position = state.position;
    this.exhausted = state.exhausted;
    this.skipped = { ...state.skipped };
    this.permutation = this.permutationFor(this.epoch);
    this.blocks = [];
    this.frontConsumed = 0;
    this.badInARow = 0;
    this.aheadEpoch = this.epoch;
    this.aheadPosition = this.position;
  }

  skippedCounts(): Readonly<Record<string, number>> {
    return this.skipped;
  }

  /**
   * The next usable document, or null when the domain is exhausted under `on_exhausted: drop`.
   * Throws DataError on a bad document under `on_error: fail`.
   */
  async next(): Promise<DomainDocument | null> {
    for (;;) {
      const doc = this.nextIfReady();
      if (doc !== undefined) return doc;
      await this.whenReady();
    }
  }

  /** Resolves when `nextIfReady()` can answer (a failure is left for it to throw). */
  whenReady(): Promise<void> {
    this.topUp();
    if (this.blocks.length === 0) return Promise.resolve();
    const front = this.blocks[0];
    // Blocks further ahead (this domain's and every other's) may be queued before it: this one is needed now.
    if (front.results === null && front.ticket !== undefined) this.pool.expedite(front.ticket);
    return front.ready;
  }

  /**
   * `next()` without waiting: undefined when the next document is still being tokenized.
   * Pre-tokenized sources are always ready, so the loader's hot path stays synchronous for them.
   */
  nextIfReady(): DomainDocument | null | undefined {
    for (;;) {
      if (this.exhausted) return null;
      this.topUp();
      const block = this.blocks[0];
      if (block.results === null) {
        if (block.error !== undefined) throw block.error;
        return undefined;
      }
      const fetched = block.results[this.frontConsumed];
      const epoch = this.epoch;
      const position = this.position;
      if (++this.frontConsumed === block.results.length) {
        // (A block is never empty: topUp requests at least one position.)
        this.blocks.shift();
        this.frontConsumed = 0;
      }
      this.advance();
      if (fetched instanceof Int32Array) {
        this.badInARow = 0;
        return { domain: this.index, epoch, position, tokens: fetched };
      }
      this.reject(fetched);
      if (++this.badInARow >= this.numDocuments) {
        throw new DataError(fetched.reason, fetched.file, fetched.line, `every document of domain ${JSON.stringify(this.name)} is unusable (last: ${fetched.detail})`);
      }
    }
  }

  /** Re-read one document by position (resume rebuilds the packer buffer this way). */
  async fetch(at: DocPosition): Promise<Int32Array> {
    const raw = this.read(this.permutationFor(at.epoch).permute(at.position));
    if (raw.kind === "bad") throw new DataError(raw.reason, raw.file, raw.line, `${raw.detail} (while restoring state: the data changed since it was saved)`);
    if (raw.kind === "tokens") return raw.tokens;
    return (await this.pool.encode([raw.text]))[0];
  }

  /**
   * Estimated tokens in the domain: the mean length of up to `sample` documents (the first ones
   * of epoch 0's order, so the estimate is deterministic) times the document count.
   * `natural` and `temperature` mixers use it; `mixload tokenize` gives exact counts.
   */
  async estimateTokens(sample = 64): Promise<number> {
    const n = Math.min(sample, this.numDocuments);
    const block = this.fetchBlock(0, 0, n);
    await block.ready;
    if (block.results === null) throw block.error;
    const fetched = block.results;
    let tokens = 0;
    let good = 0;
    for (const f of fetched) {
      if (f instanceof Int32Array) {
        tokens += f.length;
        good += 1;
      }
    }
    return good === 0 ? 0 : Math.round((tokens / good) * this.numDocuments);
  }

  private reject(bad: BadDocument): void {
    if (this.onError === "fail") throw new DataError(bad.reason, bad.file, bad.line, bad.detail);
    this.skipped[bad.reason] = (this.skipped[bad.reason] ?? 0) + 1;
  }

  private advance(): void {
    this.position += 1;
    if (this.position < this.numDocuments) return;
    if (this.onExhausted === "drop") {
      this.exhausted = true;
      return;
    }
    this.epoch += 1;
    this.position = 0;
    this.permutation = this.permutationFor(this.epoch);
  }

  private permutationFor(epoch: number): FeistelPermutation {
    return new FeistelPermutation(this.numDocuments, hashInts(this.seed, this.index, epoch));
  }

  /**
   * Request one more block if fewer than `lookahead` documents are requested ahead; false when
   * full (or nothing is left to request). For idle time: see `deferReadAhead`.
   */
  readAheadOne(): boolean {
    if (this.exhausted || this.requestedAhead() >= this.lookahead) return false;
    return this.requestBlock();
  }

  /** Keep at least `consumeLookahead` documents (and one block) requested beyond the current position. */
  private topUp(): void {
    while (this.requestedAhead() < this.consumeLookahead || this.blocks.length === 0) {
      if (!this.requestBlock()) break;
    }
  }

  private requestedAhead(): number {
    return (this.aheadEpoch - this.epoch) * this.numDocuments + (this.aheadPosition - this.position);
  }

  /** Request the next block of positions; false when `on_exhausted: drop` leaves nothing to request. */
  private requestBlock(): boolean {
    if (this.onExhausted === "drop" && this.aheadEpoch > 0) return false;
    const epoch = this.aheadEpoch;
    const start = this.aheadPosition;
    const end = Math.min(this.numDocuments, start + this.blockDocs);
    this.blocks.push(this.fetchBlock(epoch, start, end));
    if (end === this.numDocuments) {
      this.aheadEpoch += 1;
      this.aheadPosition = 0;
    } else {
      this.aheadPosition = end;
    }
    return true;
  }

  /**
   * Read positions [start, end) of an epoch now and tokenize their texts on the pool. A block
   * with no text (pre-tokenized sources) is ready at once. A tokenizer failure is kept in the
   * block and thrown when the block is consumed — never an unhandled rejection.
   */
  private fetchBlock(epoch: number, start: number, end: number): Block {
    const permutation = epoch === this.epoch ? this.permutation : this.permutationFor(epoch);
    const raws: (RawDocument | BadDocument)[] = [];
    const texts: string[] = [];
    try {
      for (let p = start; p < end; p++) {
        const raw = this.read(permutation.permute(p));
        raws.push(raw);
        if (raw.kind === "text") texts.push(raw.text);
      }
    } catch (error) {
      // An I/O failure (a file truncated under us) belongs to the block: thrown when the block is
      // consumed, like a tokenizer failure — not from wherever the read-ahead happened to run.
      return { results: null, error, ready: Promise.resolve() };
    }
    const resolve = (ids: readonly Int32Array[]): Fetched[] => {
      let t = 0;
      return raws.map((r) => (r.kind === "text" ? ids[t++] : r.kind === "tokens" ? r.tokens : r));
    };
    if (texts.length === 0) return { results: resolve([]), error: undefined, ready: Promise.resolve() };
    const ticket = this.pool.submit(texts);
    const block: Block = {
      results: null,
      error: undefined,
      ticket,
      ready: ticket.done.then(
        (ids) => {
          block.results = resolve(ids);
        },
        (error: unknown) => {
          block.error = error;
        },
      ),
    };
    return block;
  }

  /** Document `global` of the domain's index space [0, N). */
  private read(global: number): RawDocument | BadDocument {
    // Few sources per domain: a linear scan from the end is fine and obvious.
    let s = this.sources.length - 1;
    while (this.sourceStarts[s] > global) s--;
    return this.sources[s].read(global - this.sourceStarts[s]);
  }
}
