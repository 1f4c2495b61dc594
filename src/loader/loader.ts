/**
 * The loader: sources → tokenize → domain choice → packing → batch arrays, one step at a time.
 *
 *   const loader = await Loader.open(loadConfig("examples/configs/brown.json"));
 *   const batch = await loader.next(weights);   // the global batch of the next step
 *
 * A batch is a pure function of (config, seed, the weights passed for each step so far).
 * `state()` between steps captures everything needed to continue — domain cursors, sampler
 * balance, packer buffer (as document references, see pack/stream.ts), counters — in space
 * bounded by the buffer size, and `restore()` continues with identical bytes.
 */
import { createHash } from "node:crypto";
import os from "node:os";
import path from "node:path";
import type { LoadedConfig } from "../config/load.js";
import type { Config } from "../config/schema.js";
import { openSource } from "../sources/index.js";
import { BlockTiers } from "../sources/block-tiers.js";
import type { BlockReadCounters, DocumentSource, FileProblem, SourceInfo } from "../sources/types.js";
import { identityMismatch, sourceIdentities } from "../sources/identity.js";
import { TokenizerPool } from "../tokenize/pool.js";
import { DeficitSampler } from "../sample/deficit.js";
import { StreamingPacker, toRef, type ItemRef, type PackerState, type StreamDocument, type StreamItem } from "../pack/stream.js";
import { assembleBatch, type Batch } from "../batch/assemble.js";
import type { DomainInfo } from "../../mixers/contract.js";
import { DomainReader, type DocPosition, type DomainReaderState } from "./domain-reader.js";
import { ResumeMismatchError } from "./state-blob.js";

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

export interface LoaderState {
  format: "mixload-loader-state";
  version: 1;
  /** Digest of the config fields that shape batches; a state only resumes the run it came from. */
  fingerprint: string;
  /** The JSON hashed into `fingerprint`, so a refusal can name the field that differs. Absent in older states. */
  fingerprintInputs?: string;
  step: number;
  sampler: number[];
  /** Per domain, tokens owed in what was served: Σ_steps (w_i·T − T_i). */
  servedOwed: number[];
  readers: DomainReaderState[];
  packer: PackerState;
  counters: LoaderCounters;
  /** Per domain, per source: what the bytes were (sources/identity.ts); restore refuses changed files. Absent in older states. */
  identities?: (string | null)[][];
}

export interface LoaderStats {
  step: number;
  documents: number;
  tokens: number;
  sequences: number;
  fill_rate: number;
  truncations: number;
  min_truncations: number;
  padding_tokens: number;
  achieved: Record<string, number>;
  documents_by_domain: Record<string, number>;
  epochs: Record<string, number>;
  skipped: Record<string, number>;
}

export interface LoaderOptions {
  /** Override `tokenizer.workers` (e.g. 0 in tests). */
  readonly workers?: number;
  /**
   * The caller has idle time between steps and calls `readAheadOne()` in it (the serve builder
   * thread): while a step is built, domains then read only one block ahead, and the rest of the
   * read-ahead happens between steps. Batches are the same either way; only the timing moves.
   */
  readonly deferReadAhead?: boolean;
}

/**
 * The config fields that determine the batch stream (not the mixer: its output is the weights
 * passed in), as the JSON hashed into the fingerprint.
 *
 * The global batch is world × batch_size rows, packed as one block and cut into rank slices
 * afterwards, so only the product shapes the stream: a state saved with (W, B) resumes with any
 * (W′, B′) where W·B = W′·B′ (elastic resume: the same global stream on another number of GPUs).
 */
export function fingerprintInputs(config: Config): string {
  const shaping = {
    seed: config.seed,
    seq_len: config.seq_len,
    rows_per_step: config.world * config.batch_size,
    tokenizer: { path: path.basename(config.tokenizer.path), eos: config.tokenizer.eos, pad: config.tokenizer.pad },
    packing: config.packing,
    on_error: config.on_error,
    on_exhausted: config.on_exhausted,
    domains: config.domains,
  };
  return JSON.stringify(shaping);
}

export function configFingerprint(config: Config): string {
  return createHash("sha256").update(fingerprintInputs(config)).digest("hex").slice(0, 32);
}

/**
 * The fingerprint states had before elastic resume (batch_size and world instead of their
 * product): such a state still resumes a run with the same world and batch size.
 */
function legacyFingerprint(config: Config): string {
  const shaping = {
    seed: config.seed,
    seq_len: config.seq_len,
    batch_size: config.batch_size,
    world: config.world,
    tokenizer: { path: path.basename(config.tokenizer.path), eos: config.tokenizer.eos, pad: config.tokenizer.pad },
    packing: config.packing,
    on_error: config.on_error,
    on_exhausted: config.on_exhausted,
    domains: config.domains,
  };
  return createHash("sha256").update(JSON.stringify(shaping)).digest("hex").slice(0, 32);
}

/**
 * What differs between two fingerprint inputs, as `path: state → config` parts (the first few).
 * The fingerprint alone says only *that* they differ; the user needs to know which field to fix.
 */
export function describeConfigDiff(saved: string, current: string, limit = 3): string[] {
  const out: string[] = [];
  const show = (v: unknown): string => {
    const s = v === undefined ? "(absent)" : JSON.stringify(v);
    return s.length > 80 ? `${s.slice(0, 77)}...` : s;
  };
  const walk = (a: unknown, b: unknown, at: string): void => {
    if (JSON.stringify(a) === JSON.stringify(b)) return;
    if (Array.isArray(a) && Array.isArray(b)) {
      if (at === "domains") {
        // Domains are known by name: other names or another order is the difference to report.
        const names = (xs: unknown[]) => xs.map((d) => (d as { name?: unknown }).name);
        const [na, nb] = [names(a), names(b)];
        if (JSON.stringify(na) !== JSON.stringify(nb)) {
          const gone = na.filter((n) => !nb.includes(n));
          const added = nb.filter((n) => !na.includes(n));
          const parts = [...(gone.length > 0 ? [`${show(gone)} only in the state`] : []), ...(added.length > 0 ? [`${show(added)} only in this config`] : [])];
          out.push(`domains ${parts.length > 0 ? parts.join(", ") : `in another order ${show(na)} → ${show(nb)}`}`);
          return;
        }
        for (let i = 0; i < a.length; i++) walk(a[i], b[i], `domains[${String((a[i] as { name?: unknown }).name)}]`);
        return;
      }
      if (a.length !== b.length) out.push(`${at} has ${a.length} entries → ${b.length}`);
      for (let i = 0; i < Math.min(a.length, b.length); i++) walk(a[i], b[i], `${at}[${i}]`);
      return;
    }
    if (a !== null && b !== null && typeof a === "object" && typeof b === "object" && !Array.isArray(a) && !Array.isArray(b)) {
      const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
      for (const k of keys) walk((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], at === "" ? k : `${at}.${k}`);
      return;
    }
    out.push(`${at} ${show(a)} → ${show(b)}`);
  };
  walk(JSON.parse(saved), JSON.parse(current), "");
  if (out.length > limit) return [...out.slice(0, limit), `and ${out.length - limit} more`];
  return out;
}

export class Loader {
  readonly domains: readonly string[];
  readonly seqLen: number;
  /** Global rows per step: world × batch_size. */
  readonly rowsPerStep: number;
  readonly fingerprint: string;
  private readonly fingerprintJson: string;
  private stepIndex = 0;
  private weights: Float64Array;
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

  private constructor(
    readonly config: Config,
    private readonly sources: DocumentSource[][],
    readonly tokenizer: TokenizerPool,
    private readonly readers: DomainReader[],
    private readonly blockTiers: BlockTiers,
  ) {
    const k = readers.length;
    this.domains = config.domains.map((d) => d.name);
    this.seqLen = config.seq_len;
    this.rowsPerStep = config.world * config.batch_size;
    this.fingerprintJson = fingerprintInputs(config);
    this.fingerprint = configFingerprint(config);
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

  static async open(loaded: LoadedConfig, options: LoaderOptions = {}): Promise<Loader> {
    const { config, baseDir } = loaded;
    const cacheDir = config.cache_dir ?? path.join(os.tmpdir(), "mixload-cache");
    // One place for all domains' decoded Parquet/Arrow blocks, so the budgets are the run's, not per domain.
    const blockTiers = new BlockTiers({ memoryBytes: config.source_cache_mb * 2 ** 20, diskBytes: config.source_spill_mb * 2 ** 20, cacheDir });
    // The pool first: pre-tokenized sources check their ids against its vocabulary size as they
    // read. (It starts no workers until a text needs encoding, and its vocab size comes from a
    // small cache file, so a run over pre-tokenized data still never parses tokenizer.json.)
    const tokenizer = new TokenizerPool(
      { path: config.tokenizer.path, configPath: config.tokenizer.config, eos: config.tokenizer.eos, pad: config.tokenizer.pad },
      options.workers ?? config.tokenizer.workers,
      cacheDir,
    );
    const sources: DocumentSource[][] = [];
    try {
      for (const domain of config.domains) {
        const opened: DocumentSource[] = [];
        sources.push(opened);
        for (const spec of domain.sources) opened.push(await openSource(spec, { baseDir, cacheDir, vocabSize: tokenizer.vocabSize, blockTiers }));
      }
    } catch (e) {
      for (const list of sources) for (const s of list) s.close();
      blockTiers.close();
      await tokenizer.close();
      throw e;
    }
    const readers = config.domains.map(
      (d, i) =>
        new DomainReader(i, d.name, sources[i], config.seed, tokenizer, config.on_error, config.on_exhausted, options.deferReadAhead, config.domains.length),
    );
    return new Loader(config, sources, tokenizer, readers, blockTiers);
  }

  /**
   * Read one block ahead for the next domain (round-robin) still short of its read-ahead target;
   * false when every domain is full. A few ms per call: idle-time work for `deferReadAhead` owners.
   */
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

  /** Names and (estimated) token counts, what mixers are built from. */
  async domainInfo(): Promise<DomainInfo[]> {
    const tokens = await Promise.all(this.readers.map((r) => r.estimateTokens()));
    return this.domains.map((name, i) => ({ name, tokens: tokens[i] }));
  }

  /** The step the next call to `next()` builds. */
  get step(): number {
    return this.stepIndex;
  }

  /**
   * Build the next step's global batch with `weights` (one per domain, non-negative, normalised
   * here) steering every document drawn from now on. Returns null when every domain is
   * exhausted (`on_exhausted: drop`) and nothing is left; a last partial step is padded.
   */
  async next(weights: ArrayLike<number>): Promise<Batch | null> {
    this.setWeights(weights);
    const rows = await this.packer.take(this.rowsPerStep);
    if (rows.length === 0) return null;
    while (rows.length < this.rowsPerStep) rows.push({ items: [] });
    const batch = assembleBatch(rows, this.seqLen, this.tokenizer.padId);
    this.lastRows = rows.map((r) => r.items as readonly StreamItem[]);
    const served = this.account(this.lastRows);
    const effective = this.effectiveWeights();
    let total = 0;
    for (const n of served) total += n;
    for (let i = 0; i < served.length; i++) this.servedOwed[i] += effective[i] * total - served[i];
    this.stepIndex += 1;
    return batch;
  }

  /** Where every piece of the last batch came from, row by row: (domain, epoch, position, offset, length). */
  lastServed(): ItemRef[][] {
    return this.lastRows.map((row) => row.map(toRef));
  }

  /** Which source of a domain holds the document at (epoch, position), as `lastServed` reports it, and its index there (provenance). */
  documentAt(domain: number, at: DocPosition): { source: DocumentSource; index: number } {
    return this.readers[domain].documentAt(at);
  }

  private setWeights(weights: ArrayLike<number>): void {
    if (weights.length !== this.domains.length) throw new RangeError(`expected ${this.domains.length} weights, got ${weights.length}`);
    let sum = 0;
    for (let i = 0; i < weights.length; i++) {
      const w = weights[i];
      if (!Number.isFinite(w) || w < 0) throw new RangeError(`weight of domain ${JSON.stringify(this.domains[i])} must be finite and ≥ 0, got ${w}`);
      sum += w;
    }
    if (!(sum > 0)) throw new RangeError("weights must not all be zero");
    for (let i = 0; i < weights.length; i++) this.weights[i] = weights[i] / sum;
    this.effective = null;
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

  /** Add a served step to the counters; returns its non-padding tokens per domain. */
  private account(rows: readonly (readonly StreamItem[])[]): Float64Array {
    const c = this.counters;
    const L = this.seqLen;
    const served = new Float64Array(this.domains.length);
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

  stats(): LoaderStats {
    const c = this.counters;
    const achieved: Record<string, number> = {};
    const documents: Record<string, number> = {};
    const epochs: Record<string, number> = {};
    const skipped: Record<string, number> = {};
    this.domains.forEach((name, i) => {
      achieved[name] = c.tokens === 0 ? 0 : c.domainTokens[i] / c.tokens;
      documents[name] = c.domainDocuments[i];
      epochs[name] = this.readers[i].currentEpoch;
      for (const [reason, n] of Object.entries(this.readers[i].skippedCounts())) skipped[reason] = (skipped[reason] ?? 0) + n;
    });
    const total = c.tokens + c.paddingTokens;
    return {
      step: this.stepIndex,
      documents: c.domainDocuments.reduce((a, b) => a + b, 0),
      tokens: c.tokens,
      sequences: c.sequences,
      fill_rate: total === 0 ? 0 : c.tokens / total,
      truncations: c.truncations,
      min_truncations: c.minTruncations,
      padding_tokens: c.paddingTokens,
      achieved,
      documents_by_domain: documents,
      epochs,
      skipped,
    };
  }

  /** Documents read and current epoch per domain, as fresh arrays (the cheap part of stats()). */
  domainCounts(): { documents: Float64Array; epochs: Float64Array } {
    const k = this.domains.length;
    const documents = Float64Array.from(this.counters.domainDocuments);
    const epochs = new Float64Array(k);
    for (let i = 0; i < k; i++) epochs[i] = this.readers[i].currentEpoch;
    return { documents, epochs };
  }

  /** Every domain's opened sources, for `mixload inspect`. */
  describeSources(): {
    domain: string;
    window: number | null;
    sources: { description: string; documents: number; info?: SourceInfo; problems: FileProblem[] }[];
  }[] {
    return this.domains.map((domain, i) => ({
      domain,
      window: this.readers[i].window,
      sources: this.sources[i].map((s) => ({ description: s.description, documents: s.numDocuments, info: s.info, problems: s.fileProblems?.() ?? [] })),
    }));
  }

  /**
   * Block reads per domain (Parquet and Arrow sources): blocks decoded, and characters decoded vs
   * characters served — their ratio is the I/O amplification of the domain's shuffle and cache.
   */
  blockReadCounters(): BlockReadCounters[] {
    return this.sources.map((list) => {
      const total: BlockReadCounters = { blocksDecoded: 0, blocksDistinct: 0, charsDecoded: 0, charsServed: 0 };
      for (const s of list) {
        const c = s.counters;
        if (c === undefined) continue;
        total.blocksDecoded += c.blocksDecoded;
        total.blocksDistinct += c.blocksDistinct;
        total.charsDecoded += c.charsDecoded;
        total.charsServed += c.charsServed;
      }
      return total;
    });
  }

  state(): LoaderState {
    return {
      format: "mixload-loader-state",
      version: 1,
      fingerprint: this.fingerprint,
      fingerprintInputs: this.fingerprintJson,
      step: this.stepIndex,
      sampler: this.sampler.state(),
      servedOwed: Array.from(this.servedOwed),
      readers: this.readers.map((r) => r.state()),
      packer: this.packer.state(),
      counters: structuredClone(this.counters),
      identities: sourceIdentities(this.sources),
    };
  }

  async restore(state: LoaderState): Promise<void> {
    if (state === null || typeof state !== "object" || state.format !== "mixload-loader-state" || state.version !== 1)
      throw new ResumeMismatchError("not a mixload loader state (format/version mismatch)");
    if (state.fingerprint !== this.fingerprint && state.fingerprint !== legacyFingerprint(this.config)) {
      // States written before fingerprintInputs existed can only say that something differs.
      const diff = (typeof state.fingerprintInputs === "string" ? describeConfigDiff(state.fingerprintInputs, this.fingerprintJson) : []).map((d) =>
        d.startsWith("rows_per_step") ? `${d} (world × batch_size: an elastic resume may change world and batch_size, not their product)` : d,
      );
      const what =
        diff.length > 0
          ? diff.join("; ")
          : `fingerprint ${state.fingerprint}, this config ${this.fingerprint}; the state predates field names: compare seed, seq_len, batch_size and world (same world and batch size for such old states), tokenizer, packing, on_error, on_exhausted, domains and sources`;
      throw new ResumeMismatchError(`the state was saved by a run with a different config (state → this config: ${what})`);
    }
    if (state.readers.length !== this.readers.length)
      throw new ResumeMismatchError(`the state has ${state.readers.length} domains, the config has ${this.readers.length}`);
    const changed = identityMismatch(state.identities, this.sources);
    if (changed !== undefined)
      throw new ResumeMismatchError(`the data changed since the state was saved (${changed}); the saved positions would address other documents`);
    this.stepIndex = state.step;
    this.sampler.restore(state.sampler);
    this.servedOwed.set(state.servedOwed);
    state.readers.forEach((r, i) => {
      this.readers[i].restore(r);
      this.eligible[i] = r.exhausted ? 0 : 1;
    });
    this.effective = null;
    this.counters = structuredClone(state.counters);
    await this.packer.restore(state.packer);
  }

  async close(): Promise<void> {
    await this.tokenizer.close();
    for (const list of this.sources) for (const s of list) s.close();
    this.blockTiers.close();
  }
}

function emptyCounters(k: number): LoaderCounters {
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
