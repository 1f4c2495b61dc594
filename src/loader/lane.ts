/**
 * One loader lane: a sampler, a packer and one reader per domain over the lane's share of that
 * domain's order. The global batch of a step is the lanes' rows one after another (lane j builds
 * global rows [j·R, (j+1)·R) with R = rows per lane), every lane steered by the same weights.
 *
 * Lanes are what lets the global batch stay a pure function of (config, seed, lanes, schedule)
 * however many node services build it: a node builds the lanes its ranks read, and a lane's
 * bytes do not depend on which process builds it, nor on the other lanes. With one lane (the
 * default) this is exactly the single loader mixload always had.
 */
import type { Config } from "../config/schema.js";
import type { DocumentSource } from "../sources/types.js";
import type { TokenizerPool } from "../tokenize/pool.js";
import { DeficitSampler } from "../sample/deficit.js";
import { StreamingPacker, toRef, type ItemRef, type PackerState, type StreamDocument, type StreamItem } from "../pack/stream.js";
import { DomainReader, type DomainReaderState } from "./domain-reader.js";
import type { DomainSelection } from "../select/domain-selection.js";

/** Served-data counters; cumulative over the run and part of the state. */
export interface LoaderCounters {
  sequences: number;
  tokens: number;
  paddingTokens: number;
  /** Per domain: non-padding tokens served, documents whose last piece was served. */
  domainTokens: number[];
  domainDocuments: number[];
  /** Document cuts made, and the cuts that were unavoidable (Σ ⌈len/L⌉ − 1 over served documents). */
  truncations: number;
  minTruncations: number;
}

/** Everything a lane needs to continue: its cursors, sampler balance, packer buffer and counters. */
export interface LaneState {
  lane: number;
  sampler: number[];
  /** Per domain, tokens owed in what was served: Σ_steps (w_i·T − T_i). */
  servedOwed: number[];
  readers: DomainReaderState[];
  packer: PackerState;
  counters: LoaderCounters;
  /**
   * Per domain, 1 while the lane still draws from it (`on_exhausted: drop`). Not the same as
   * "its reader is exhausted": a reader runs out when its last document is read, the lane learns
   * it only when the sampler next picks that domain, and until then the domain's weight still
   * counts in the renormalised weights. Absent in states from before it was saved.
   */
  eligible?: number[];
}

export interface LaneSetup {
  readonly config: Config;
  readonly sources: readonly (readonly DocumentSource[])[];
  readonly tokenizer: TokenizerPool;
  readonly deferReadAhead: boolean;
  /** Domains times lanes built by this process: they share one read-ahead budget. */
  readonly readersSharingReadAhead: number;
  /** Per domain, the documents to serve (selection and dedup, select/domain-selection.ts); null: all. */
  readonly selections?: readonly (DomainSelection | null)[];
}

export class Lane {
  readonly readers: DomainReader[];
  private readonly seqLen: number;
  private readonly weights: Float64Array;
  private readonly eligible: Uint8Array;
  private readonly sampler: DeficitSampler;
  private readonly packer: StreamingPacker;
  private counters: LoaderCounters;
  private readonly servedOwed: Float64Array;
  private lastRows: readonly (readonly StreamItem[])[] = [];
  /** Where `readAheadOne` looks first. */
  private readAheadNext = 0;
  /** effectiveWeights() cache; reset whenever the weights or the eligible domains change. */
  private effective: Float64Array | null = null;

  constructor(
    readonly index: number,
    readonly count: number,
    setup: LaneSetup,
  ) {
    const { config } = setup;
    this.seqLen = config.seq_len;
    const k = config.domains.length;
    this.readers = config.domains.map(
      (d, i) =>
        new DomainReader(i, d.name, setup.sources[i], config.seed, setup.tokenizer, config.on_error, config.on_exhausted, {
          deferReadAhead: setup.deferReadAhead,
          domainsSharingReadAhead: setup.readersSharingReadAhead,
          lane: { index, count },
          selection: setup.selections?.[i],
        }),
    );
    this.weights = new Float64Array(k).fill(1 / k);
    this.eligible = new Uint8Array(k).fill(1);
    this.sampler = new DeficitSampler(k);
    this.counters = emptyCounters(k);
    this.servedOwed = new Float64Array(k);
    this.packer = new StreamingPacker(
      {
        strategy: config.packing.strategy,
        seqLen: config.seq_len,
        bufferDocs: config.packing.buffer_docs,
        minFill: config.packing.min_fill,
        maxHoldRounds: config.packing.max_hold_rounds,
      },
      {
        next: () => this.nextDocument(),
        nextIfReady: () => this.nextDocumentIfReady(),
        refetch: (domain, epoch, position) => this.readers[domain].fetch({ epoch, position }),
        servedBalance: () => ({ owed: this.servedOwed, weights: this.effectiveWeights() }),
      },
    );
  }

  /** Read one block ahead for the next domain still short of its read-ahead target; false when all are full. */
  readAheadOne(): boolean {
    // From where the last call stopped, so every domain gets refilled evenly.
    for (let k = 0; k < this.readers.length; k++) {
      const i = (this.readAheadNext + k) % this.readers.length;
      if (this.eligible[i] && this.readers[i].readAheadOne()) {
        this.readAheadNext = (i + 1) % this.readers.length;
        return true;
      }
    }
    return false;
  }

  /**
   * Pack `rows` rows with `weights` (normalised, validated by the loader) steering every document
   * drawn from now on. Fewer rows only when every domain is exhausted (`on_exhausted: drop`);
   * the loader then pads them (`pad`) or ends the run when no lane has any.
   */
  async take(weights: Float64Array, rows: number): Promise<StreamItem[][]> {
    this.weights.set(weights);
    this.effective = null;
    const taken = await this.packer.take(rows);
    return taken.map((r) => r.items as StreamItem[]);
  }

  /**
   * Count a served step (`rows`, padded to the lane's full share) and update the served balance
   * the packer's best-fit rounds steer by.
   */
  account(rows: readonly (readonly StreamItem[])[]): void {
    this.lastRows = rows;
    const served = this.countRows(rows);
    const effective = this.effectiveWeights();
    let total = 0;
    for (const n of served) total += n;
    for (let i = 0; i < served.length; i++) this.servedOwed[i] += effective[i] * total - served[i];
  }

  /** Where every piece of the last rows came from: refs whose position is in the domain's order (not the lane's share). */
  lastServed(): ItemRef[][] {
    return this.lastRows.map((row) =>
      row.map((item) => {
        const ref = toRef(item);
        ref[3] = item.position * this.count + this.index;
        return ref;
      }),
    );
  }

  get counterValues(): Readonly<LoaderCounters> {
    return this.counters;
  }

  /**
   * The packer's document feed: ask the sampler which domain, read that domain's next document.
   * Returns undefined (without changing any state) when that document is still being tokenized;
   * `nextDocument` then waits for it. The sampler's choice is a function of its state, so the
   * retry picks the same domain.
   */
  private nextDocumentIfReady(): StreamDocument | null | undefined {
    for (;;) {
      const effective = this.effectiveWeights();
      const domain = this.sampler.choose(effective, this.eligible);
      if (domain < 0) return null;
      const doc = this.readers[domain].nextIfReady();
      if (doc === undefined) return undefined;
      if (doc === null) {
        // `on_exhausted: drop`: the domain leaves; the others are renormalised by effectiveWeights().
        this.eligible[domain] = 0;
        this.effective = null;
        continue;
      }
      this.sampler.record(domain, doc.tokens.length, effective);
      return doc;
    }
  }

  private async nextDocument(): Promise<StreamDocument | null> {
    for (;;) {
      const doc = this.nextDocumentIfReady();
      if (doc !== undefined) return doc;
      const domain = this.sampler.choose(this.effectiveWeights(), this.eligible);
      await this.readers[domain].whenReady();
    }
  }

  /** Current weights with exhausted domains removed and the rest renormalised (cached: asked once per document). */
  private effectiveWeights(): Float64Array {
    if (this.effective !== null) return this.effective;
    let live = 0;
    for (let i = 0; i < this.weights.length; i++) if (this.eligible[i]) live += this.weights[i];
    const out = new Float64Array(this.weights.length);
    for (let i = 0; i < out.length; i++) out[i] = this.eligible[i] && live > 0 ? this.weights[i] / live : 0;
    this.effective = out;
    return out;
  }

  /** Add served rows to the counters; returns their non-padding tokens per domain. */
  private countRows(rows: readonly (readonly StreamItem[])[]): Float64Array {
    const c = this.counters;
    const L = this.seqLen;
    const served = new Float64Array(this.readers.length);
    for (const items of rows) {
      c.sequences += 1;
      let fill = 0;
      for (const item of items) {
        const n = item.tokens.length;
        fill += n;
        served[item.domain] += n;
        c.domainTokens[item.domain] += n;
        // Counted when a document's last piece is served, so both figures cover the same documents.
        if (item.offset + n === item.docLength) {
          c.domainDocuments[item.domain] += 1;
          c.truncations += item.piece;
          c.minTruncations += Math.ceil(item.docLength / L) - 1;
        }
      }
      c.tokens += fill;
      c.paddingTokens += L - fill;
    }
    return served;
  }

  state(): LaneState {
    return {
      lane: this.index,
      sampler: this.sampler.state(),
      servedOwed: Array.from(this.servedOwed),
      readers: this.readers.map((r) => r.state()),
      packer: this.packer.state(),
      counters: structuredClone(this.counters),
      eligible: Array.from(this.eligible),
    };
  }

  async restore(state: LaneState): Promise<void> {
    this.sampler.restore(state.sampler);
    this.servedOwed.set(state.servedOwed);
    state.readers.forEach((r, i) => {
      this.readers[i].restore(r);
      this.eligible[i] = state.eligible !== undefined ? state.eligible[i] : r.exhausted ? 0 : 1;
    });
    this.effective = null;
    this.counters = structuredClone(state.counters);
    await this.packer.restore(state.packer);
  }
}

export function emptyCounters(k: number): LoaderCounters {
  return {
    sequences: 0,
    tokens: 0,
    paddingTokens: 0,
    domainTokens: new Array<number>(k).fill(0),
    domainDocuments: new Array<number>(k).fill(0),
    truncations: 0,
    minTruncations: 0,
  };
}

/** The run's counters: the lanes' summed. */
export function sumCounters(lanes: readonly Readonly<LoaderCounters>[], k: number): LoaderCounters {
  const out = emptyCounters(k);
  for (const c of lanes) {
    out.sequences += c.sequences;
    out.tokens += c.tokens;
    out.paddingTokens += c.paddingTokens;
    out.truncations += c.truncations;
    out.minTruncations += c.minTruncations;
    for (let i = 0; i < k; i++) {
      out.domainTokens[i] += c.domainTokens[i];
      out.domainDocuments[i] += c.domainDocuments[i];
    }
  }
  return out;
}
