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
import {
  badDocumentError,
  isSyncSource,
  type BadDocument,
  type DocumentMetadata,
  type DocumentSource,
  type ReadResult,
  type SyncSource,
} from "../sources/types.js";
import type { EncodeTicket, TokenizerPool } from "../tokenize/pool.js";
import { FeistelPermutation } from "../sample/permutation.js";
import { BlockShuffle, type DocumentOrder } from "../sample/block-shuffle.js";
import { hashInts } from "../util/hash.js";
import { DataError } from "../util/errors.js";
import type { DomainSelection } from "../select/domain-selection.js";
import { attachScore, keptBlockSizes } from "../select/kept.js";

/** Where a document sits in the domain's stream: its epoch and position in that epoch's order. */
export interface DocPosition {
  readonly epoch: number;
  readonly position: number;
}

export interface DomainDocument extends DocPosition {
  readonly domain: number;
  readonly tokens: Int32Array;
  /** The source's per-document metadata (Parquet columns, JSONL fields), when it has any. */
  readonly metadata?: DocumentMetadata;
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
  /** Per-position metadata, or null when no document of the block has any (the common case). */
  metadata: (DocumentMetadata | undefined)[] | null;
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
/**
 * Blocks tokenized ahead, summed over all domains: 4 per domain up to 16 domains, then shared, so
 * 64 domains do not hold 64 × 256 tokenized documents (hundreds of MB of ids for e-mail-sized
 * documents) just to be ready for a draw. Read-ahead never changes a batch, only when it is ready.
 */
const TOTAL_LOOKAHEAD_BLOCKS = 64;
const MAX_LOOKAHEAD_BLOCKS = 4;

/** Blocks a domain keeps tokenized ahead when `domains` domains share the read-ahead. */
export function lookaheadBlocks(domains: number): number {
  return Math.max(1, Math.min(MAX_LOOKAHEAD_BLOCKS, Math.floor(TOTAL_LOOKAHEAD_BLOCKS / Math.max(1, domains))));
}

/** Blocks per shuffle window when a blocked source does not say (see sample/block-shuffle.ts). */
export const DEFAULT_SHUFFLE_WINDOW = 4;
/** In a domain shuffled by blocks, a source without blocks of its own is cut into blocks of this many documents. */
const PSEUDO_BLOCK_DOCS = 4096;

/** One loader lane's share of every domain (see loader/lanes.ts): lane `index` of `count`. */
export interface LaneShare {
  readonly index: number;
  readonly count: number;
}

export interface DomainReaderOptions {
  /** See LoaderOptions.deferReadAhead. */
  readonly deferReadAhead?: boolean;
  /** Domains sharing the read-ahead budget (lookaheadBlocks). */
  readonly domainsSharingReadAhead?: number;
  /** The lane this reader serves; default the whole domain (lane 0 of 1). */
  readonly lane?: LaneShare;
  /** The documents to serve (select/domain-selection.ts); default all. */
  readonly selection?: DomainSelection | null;
}

export class DomainReader {
  /** Documents in the domain's sources (every lane's share together). */
  readonly numDocuments: number;
  /** Positions in one epoch of this reader: its lane's share of the domain (all of it with one lane). */
  readonly epochLength: number;
  /**
   * The kept document ids when the domain has a selection or dedup (ascending), else null. The
   * epoch order runs over indices into this list — position p → kept[order(p)] — so selection
   * happens before the permutation and an epoch serves each kept document once.
   */
  private readonly kept: Uint32Array | null;
  /** Documents in the domain's order: kept.length, or numDocuments without a selection. */
  readonly servedDocuments: number;
  private readonly attach: DomainSelection["attach"];
  private readonly lane: LaneShare;
  /** Blocks per shuffle window (the largest a source asks for), when the domain is shuffled by blocks. */
  get window(): number | null {
    return this.shuffleBlocks === null ? null : this.shuffleWindow;
  }
  /** Documents per tokenizer request, and how many to keep tokenizing ahead of use. */
  private readonly blockDocs: number;
  private readonly lookahead: number;
  private readonly sourceStarts: number[] = [];
  private epoch = 0;
  private position = 0;
  private exhausted = false;
  private skipped: Record<string, number> = {};
  private permutation: DocumentOrder;
  /** Every source answers synchronously: blocks are read at once, not after an await. */
  private readonly allSync: boolean;
  /** Block sizes over the domain's index space when any source reads in blocks; null for a plain Feistel order. */
  private readonly shuffleBlocks: number[] | null;
  private readonly shuffleWindow: number;
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
    options: DomainReaderOptions = {},
  ) {
    const { deferReadAhead = false, domainsSharingReadAhead = 1, lane = { index: 0, count: 1 }, selection = null } = options;
    this.lane = lane;
    this.blockDocs = pool.numWorkers === 0 ? INLINE_BLOCK_DOCS : BLOCK_DOCS;
    this.lookahead = pool.numWorkers === 0 ? INLINE_BLOCK_DOCS : lookaheadBlocks(domainsSharingReadAhead) * BLOCK_DOCS;
    this.consumeLookahead = deferReadAhead ? this.blockDocs : this.lookahead;
    let total = 0;
    for (const s of sources) {
      this.sourceStarts.push(total);
      total += s.numDocuments;
    }
    if (total === 0)
      throw new DataError("empty_document", sources.map((s) => s.description).join(", "), undefined, `domain ${JSON.stringify(name)} has no documents`);
    this.numDocuments = total;
    this.kept = selection?.kept ?? null;
    this.attach = selection?.attach;
    this.servedDocuments = this.kept?.length ?? total;
    this.epochLength = laneShareSize(this.servedDocuments, lane);
    if (this.epochLength === 0)
      throw new DataError(
        "empty_document",
        sources.map((s) => s.description).join(", "),
        undefined,
        `domain ${JSON.stringify(name)} has ${this.servedDocuments} documents${this.kept === null ? "" : " kept"}, fewer than the ${lane.count} lanes that share it (lower \`lanes\` or add documents)`,
      );
    this.allSync = sources.every(isSyncSource);
    const blocks = sources.some((s) => s.blocks !== undefined) ? sources.flatMap((s) => s.blocks ?? pseudoBlocks(s.numDocuments)) : null;
    // Over the kept documents: block b's kept ids are contiguous (kept is sorted), so a row group is still read once per epoch.
    this.shuffleBlocks = blocks !== null && this.kept !== null ? keptBlockSizes(blocks, this.kept) : blocks;
    const asked = sources.flatMap((s) => (s.shuffleWindow === undefined ? [] : [s.shuffleWindow]));
    this.shuffleWindow = asked.length === 0 ? DEFAULT_SHUFFLE_WINDOW : Math.max(...asked);
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
      const metadata = block.metadata?.[this.frontConsumed];
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
        return metadata === undefined
          ? { domain: this.index, epoch, position, tokens: fetched }
          : { domain: this.index, epoch, position, tokens: fetched, metadata };
      }
      this.reject(fetched);
      if (++this.badInARow >= this.epochLength) {
        throw badDocumentError({ ...fetched, detail: `every document of domain ${JSON.stringify(this.name)} is unusable (last: ${fetched.detail})` });
      }
    }
  }

  /** Re-read one document by position in this reader's lane share (resume rebuilds the packer buffer this way). */
  async fetch(at: DocPosition): Promise<{ tokens: Int32Array; metadata?: DocumentMetadata }> {
    const [raw] = await this.readGlobals([this.documentOf(this.permutationFor(at.epoch).permute(at.position))]);
    if (raw.kind === "bad") throw badDocumentError(raw, " (while restoring state: the data changed since it was saved)");
    const tokens = raw.kind === "tokens" ? raw.tokens : (await this.pool.encode([raw.text]))[0];
    return raw.metadata === undefined ? { tokens } : { tokens, metadata: raw.metadata };
  }

  /**
   * Estimated tokens in the domain: the mean length of up to `sample` documents (the first ones
   * of epoch 0's order, so the estimate is deterministic) times the document count.
   * `natural` and `temperature` mixers use it; `mixload tokenize` gives exact counts.
   */
  async estimateTokens(sample = 64): Promise<number> {
    const n = Math.min(sample, this.servedDocuments);
    const docs = await this.readGlobals(this.estimateSample(n).map((i) => this.documentOf(i)));
    const texts = textsOf(docs);
    const encoded = texts.length > 0 ? await this.pool.encode(texts) : [];
    let tokens = 0;
    let good = 0;
    for (const ids of resolveBlock(docs, encoded)) {
      if (!(ids instanceof Int32Array)) continue;
      tokens += ids.length;
      good += 1;
    }
    // Kept documents only: the natural and temperature mixers weigh what will be served.
    return good === 0 ? 0 : Math.round((tokens / good) * this.servedDocuments);
  }

  /**
   * Which documents the estimate reads: epoch 0's first n. In a domain shuffled by blocks, those
   * would span a whole window of row groups (64 domains opening would decode 64 × window of them),
   * so the sample is instead n consecutive rows of the block epoch 0 starts in: one decode, and
   * that block is the first one read anyway.
   */
  private estimateSample(n: number): number[] {
    // The domain's order, not this lane's share: every lane (and node) estimates the same figure.
    const order = this.domainOrder(0);
    if (this.shuffleBlocks === null) return Array.from({ length: n }, (_, p) => order.permute(p));
    const first = order.permute(0);
    let start = 0;
    for (const size of this.shuffleBlocks) {
      if (first < start + size) break;
      start += size;
    }
    return Array.from({ length: n }, (_, k) => (start + k) % this.servedDocuments);
  }

  private reject(bad: BadDocument): void {
    if (this.onError === "fail") throw badDocumentError(bad);
    this.skipped[bad.reason] = (this.skipped[bad.reason] ?? 0) + 1;
  }

  private advance(): void {
    this.position += 1;
    if (this.position < this.epochLength) return;
    if (this.onExhausted === "drop") {
      this.exhausted = true;
      return;
    }
    this.epoch += 1;
    this.position = 0;
    this.permutation = this.permutationFor(this.epoch);
  }

  /** This reader's order for an epoch: its lane's share of the domain's order. */
  private permutationFor(epoch: number): DocumentOrder {
    const order = this.domainOrder(epoch);
    return this.lane.count === 1 ? order : new LaneOrder(order, this.lane, this.epochLength);
  }

  /**
   * The domain's order for an epoch, the same for every lane: a pure function of (seed, domain,
   * epoch) and the sources' block sizes.
   */
  private domainOrder(epoch: number): DocumentOrder {
    const key = hashInts(this.seed, this.index, epoch);
    if (this.shuffleBlocks !== null) return new BlockShuffle(this.shuffleBlocks, this.shuffleWindow, key);
    return new FeistelPermutation(this.servedDocuments, key);
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
    return (this.aheadEpoch - this.epoch) * this.epochLength + (this.aheadPosition - this.position);
  }

  /** Request the next block of positions; false when `on_exhausted: drop` leaves nothing to request. */
  private requestBlock(): boolean {
    if (this.onExhausted === "drop" && this.aheadEpoch > 0) return false;
    const epoch = this.aheadEpoch;
    const start = this.aheadPosition;
    const end = Math.min(this.epochLength, start + this.blockDocs);
    this.blocks.push(this.fetchBlock(epoch, start, end));
    if (end === this.epochLength) {
      this.aheadEpoch += 1;
      this.aheadPosition = 0;
    } else {
      this.aheadPosition = end;
    }
    return true;
  }

  /**
   * Read positions [start, end) of an epoch and tokenize their texts on the pool. Synchronous
   * sources are read now, and a block with no text (pre-tokenized sources) is ready at once;
   * asynchronous sources (Parquet, remote) are read as one request per source. A read or
   * tokenizer failure is kept in the block and thrown when the block is consumed — never from
   * wherever the read-ahead happened to run, and never an unhandled rejection.
   */
  private fetchBlock(epoch: number, start: number, end: number): Block {
    const permutation = epoch === this.epoch ? this.permutation : this.permutationFor(epoch);
    const globals: number[] = [];
    for (let p = start; p < end; p++) globals.push(this.documentOf(permutation.permute(p)));
    if (this.allSync) {
      let raws: ReadResult[];
      try {
        raws = globals.map((g) => this.readSync(g));
      } catch (error) {
        return { results: null, metadata: null, error, ready: Promise.resolve() };
      }
      const texts = textsOf(raws);
      if (texts.length === 0) return { results: resolveBlock(raws, []), metadata: metadataOf(raws), error: undefined, ready: Promise.resolve() };
      return this.tokenizeBlock(raws, texts);
    }
    const block: Block = { results: null, metadata: null, error: undefined, ready: Promise.resolve() };
    const inner = this.readGlobals(globals).then((raws) => {
      const texts = textsOf(raws);
      if (texts.length === 0) {
        block.results = resolveBlock(raws, []);
        block.metadata = metadataOf(raws);
        return;
      }
      const tokenized = this.tokenizeBlock(raws, texts);
      (block as { ticket?: EncodeTicket }).ticket = tokenized.ticket;
      return tokenized.ready.then(() => {
        block.results = tokenized.results;
        block.metadata = tokenized.metadata;
        block.error = tokenized.error;
      });
    });
    (block as { ready: Promise<void> }).ready = inner.then(undefined, (error: unknown) => {
      block.error = error;
    });
    return block;
  }

  /** Submit a block's texts to the pool; the block resolves when they are tokenized. */
  private tokenizeBlock(raws: ReadResult[], texts: string[]): Block {
    const ticket = this.pool.submit(texts);
    const block: Block = {
      results: null,
      metadata: null,
      error: undefined,
      ticket,
      ready: ticket.done.then(
        (ids) => {
          block.results = resolveBlock(raws, ids);
          block.metadata = metadataOf(raws);
        },
        (error: unknown) => {
          block.error = error;
        },
      ),
    };
    return block;
  }

  /**
   * The document at (epoch, position): its index in the domain's index space [0, N). The position
   * is in the domain's order — all lanes' positions, as `Loader.lastServed` reports them — not in
   * this reader's lane share.
   */
  private documentIndex(at: DocPosition): number {
    // One order per epoch, kept: provenance asks for every segment of every step, and a block
    // shuffle's order costs O(row groups) to build (thousands for a large Parquet domain).
    let o = this.lookupOrder;
    if (o === null || o.epoch !== at.epoch) this.lookupOrder = o = { epoch: at.epoch, order: this.domainOrder(at.epoch) };
    return this.documentOf(o.order.permute(at.position));
  }

  /** The domain order `documentIndex` last used, and its epoch. */
  private lookupOrder: { epoch: number; order: DocumentOrder } | null = null;

  /** Index i of the domain's order → document id: kept[i] under a selection, else i. */
  private documentOf(i: number): number {
    return this.kept === null ? i : this.kept[i];
  }

  /** Which of the domain's sources holds the document at (epoch, position), and its index there (provenance). */
  documentAt(at: DocPosition): { source: DocumentSource; index: number } {
    const global = this.documentIndex(at);
    const s = this.locate(global);
    return { source: this.sources[s], index: global - this.sourceStarts[s] };
  }

  /** Which source holds document `global` of the domain's index space [0, N), and its index there. */
  private locate(global: number): number {
    // Few sources per domain: a linear scan from the end is fine and obvious.
    let s = this.sources.length - 1;
    while (this.sourceStarts[s] > global) s--;
    return s;
  }

  private readSync(global: number): ReadResult {
    const s = this.locate(global);
    return this.withScore((this.sources[s] as SyncSource).read(global - this.sourceStarts[s]), global);
  }

  /** Scores read from a sidecar ride along as metadata (select.score names the field). */
  private withScore(raw: ReadResult, global: number): ReadResult {
    return this.attach === undefined ? raw : attachScore(raw, this.attach.field, this.attach.scores[global]);
  }

  /** Read documents of any kind of source: one `readMany` per asynchronous source, in parallel. */
  private async readGlobals(globals: readonly number[]): Promise<ReadResult[]> {
    if (this.allSync) return globals.map((g) => this.readSync(g));
    const out: ReadResult[] = new Array<ReadResult>(globals.length);
    const perSource = new Map<number, { at: number[]; local: number[] }>();
    for (let k = 0; k < globals.length; k++) {
      const s = this.locate(globals[k]);
      const source = this.sources[s];
      if (isSyncSource(source)) {
        out[k] = this.withScore(source.read(globals[k] - this.sourceStarts[s]), globals[k]);
        continue;
      }
      let group = perSource.get(s);
      if (!group) perSource.set(s, (group = { at: [], local: [] }));
      group.at.push(k);
      group.local.push(globals[k] - this.sourceStarts[s]);
    }
    await Promise.all(
      [...perSource].map(async ([s, group]) => {
        const source = this.sources[s];
        if (isSyncSource(source)) return;
        const got = await source.readMany(group.local);
        for (let j = 0; j < group.at.length; j++) out[group.at[j]] = this.withScore(got[j], globals[group.at[j]]);
      }),
    );
    return out;
  }
}

function textsOf(raws: readonly ReadResult[]): string[] {
  const texts: string[] = [];
  for (const r of raws) if (r.kind === "text") texts.push(r.text);
  return texts;
}

/** Each position's tokens (texts replaced by their ids, in order) or the bad document. */
function resolveBlock(raws: readonly ReadResult[], ids: readonly Int32Array[]): Fetched[] {
  let t = 0;
  return raws.map((r) => (r.kind === "text" ? ids[t++] : r.kind === "tokens" ? r.tokens : r));
}

function metadataOf(raws: readonly ReadResult[]): (DocumentMetadata | undefined)[] | null {
  if (!raws.some((r) => r.kind !== "bad" && r.metadata !== undefined)) return null;
  return raws.map((r) => (r.kind === "bad" ? undefined : r.metadata));
}

/**
 * Positions of a domain order that a lane takes: every `count`-th one, starting at its index, so
 * the lanes' shares are disjoint, cover the order, and interleave (each lane sees the whole
 * epoch's mixture of blocks, not one end of it).
 */
export function laneShareSize(n: number, lane: LaneShare): number {
  return lane.index < n ? Math.floor((n - 1 - lane.index) / lane.count) + 1 : 0;
}

class LaneOrder implements DocumentOrder {
  constructor(
    private readonly inner: DocumentOrder,
    private readonly lane: LaneShare,
    readonly n: number,
  ) {}

  permute(position: number): number {
    return this.inner.permute(position * this.lane.count + this.lane.index);
  }
}

function pseudoBlocks(n: number): number[] {
  const out: number[] = [];
  for (let start = 0; start < n; start += PSEUDO_BLOCK_DOCS) out.push(Math.min(PSEUDO_BLOCK_DOCS, n - start));
  return out;
}
