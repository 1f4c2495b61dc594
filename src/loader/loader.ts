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
import path from "node:path";
import type { LoadedConfig } from "../config/load.js";
import type { Config } from "../config/schema.js";
import { closeDomainSources, openDomainSources } from "../sources/index.js";
import { BlockTiers } from "../sources/block-tiers.js";
import type { BlockReadCounters, DocumentSource, FileProblem, SourceInfo } from "../sources/types.js";
import { identityMismatch, sourceIdentities } from "../sources/identity.js";
import { TokenizerPool } from "../tokenize/pool.js";
import type { ItemRef, StreamItem } from "../pack/stream.js";
import { assembleBatch, type Batch } from "../batch/assemble.js";
import type { DomainInfo } from "../../mixers/contract.js";
import type { DocPosition } from "./domain-reader.js";
import { Lane, sumCounters, type LaneState, type LoaderCounters } from "./lane.js";
import { laneRange, type LaneRange } from "./lanes.js";
import { ResumeMismatchError } from "./state-blob.js";
import { openSelections, selectionDigests, selectionMismatch, selectionStats, type DomainSelection, type SelectionStats } from "../select/open.js";
import { cacheDirOf } from "../sources/decompress-cache.js";

export type { LaneState, LoaderCounters } from "./lane.js";

export interface LoaderState {
  format: "mixload-loader-state";
  /** 2: per-lane states in `lanes`. 1 (before lanes): one lane's fields at the top level. */
  version: 2;
  /** Digest of the config fields that shape batches; a state only resumes the run it came from. */
  fingerprint: string;
  /** The JSON hashed into `fingerprint`, so a refusal can name the field that differs. */
  fingerprintInputs?: string;
  step: number;
  /** The run's lanes (config `lanes`), and the states of those this state holds (all, or one node's). */
  laneCount: number;
  lanes: LaneState[];
  /** Per domain, per source: what the bytes were (sources/identity.ts); restore refuses changed files. */
  identities?: (string | null)[][];
  /** Per domain, a digest of the kept document ids (null: all), when any domain has selection or dedup. */
  selections?: (string | null)[];
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
  /** Kept and dropped documents per domain and reason, when any domain has `select` or the config `dedup`. */
  selection?: Record<string, SelectionStats>;
}

export interface LoaderOptions {
  /** Override `tokenizer.workers` (e.g. 0 in tests). */
  readonly workers?: number;
  /** Build only these lanes (a node service's share); default every lane of the run. */
  readonly lanes?: LaneRange;
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
    // Only when > 1, so the fingerprints of one-lane runs are those they had before lanes existed.
    ...(config.lanes > 1 ? { lanes: config.lanes } : {}),
    tokenizer: { path: path.basename(config.tokenizer.path), eos: config.tokenizer.eos, pad: config.tokenizer.pad },
    packing: config.packing,
    on_error: config.on_error,
    on_exhausted: config.on_exhausted,
    domains: config.domains,
    // Only when set, so runs without dedup keep their fingerprints (the domains' `select` blocks are in `domains`).
    ...(config.dedup === undefined ? {} : { dedup: { exact: config.dedup.exact, near: config.dedup.near } }),
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
  /** Global rows per step: world × batch_size, over all lanes. */
  readonly rowsPerStep: number;
  /** Rows each lane builds per step. */
  readonly rowsPerLane: number;
  /** The lanes this loader builds: global rows [first·rowsPerLane, (first+count)·rowsPerLane) of every step. */
  readonly laneRange: LaneRange;
  readonly fingerprint: string;
  private readonly fingerprintJson: string;
  private stepIndex = 0;
  private readonly weights: Float64Array;
  private lastRows: readonly (readonly StreamItem[])[] = [];
  /** Which lane `readAheadOne` asks first. */
  private readAheadNext = 0;

  private constructor(
    readonly config: Config,
    private readonly sources: DocumentSource[][],
    readonly tokenizer: TokenizerPool,
    private readonly lanes: Lane[],
    range: LaneRange,
    private readonly blockTiers: BlockTiers,
    private readonly selections: readonly (DomainSelection | null)[],
  ) {
    this.domains = config.domains.map((d) => d.name);
    this.seqLen = config.seq_len;
    this.rowsPerStep = config.world * config.batch_size;
    this.rowsPerLane = this.rowsPerStep / config.lanes;
    this.laneRange = range;
    this.fingerprintJson = fingerprintInputs(config);
    this.fingerprint = configFingerprint(config);
    this.weights = new Float64Array(this.domains.length);
  }

  static async open(loaded: LoadedConfig, options: LoaderOptions = {}): Promise<Loader> {
    const { config, baseDir } = loaded;
    const range = laneRange(config, options.lanes);
    const cacheDir = cacheDirOf(config);
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
    let sources: DocumentSource[][] = [];
    try {
      sources = await openDomainSources(config.domains, { baseDir, cacheDir, vocabSize: tokenizer.vocabSize, blockTiers });
      // Selection and dedup before any order exists: every lane's share is of the kept documents.
      const selections = await openSelections(loaded, sources);
      // Every lane reads the same sources (one open, one block cache); each has its own readers.
      const setup = {
        config,
        sources,
        tokenizer,
        deferReadAhead: options.deferReadAhead ?? false,
        readersSharingReadAhead: config.domains.length * range.count,
        selections,
      };
      const lanes = Array.from({ length: range.count }, (_, k) => new Lane(range.first + k, config.lanes, setup));
      return new Loader(config, sources, tokenizer, lanes, range, blockTiers, selections);
    } catch (e) {
      closeDomainSources(sources);
      blockTiers.close();
      await tokenizer.close();
      throw e;
    }
  }

  /**
   * Read one block ahead for the next lane (round-robin) with a domain still short of its
   * read-ahead target; false when every one is full. A few ms per call: idle-time work for
   * `deferReadAhead` owners.
   */
  readAheadOne(): boolean {
    for (let k = 0; k < this.lanes.length; k++) {
      const j = (this.readAheadNext + k) % this.lanes.length;
      if (this.lanes[j].readAheadOne()) {
        this.readAheadNext = (j + 1) % this.lanes.length;
        return true;
      }
    }
    return false;
  }

  /** Names and (estimated) token counts, what mixers are built from; the same in every lane and node. */
  async domainInfo(): Promise<DomainInfo[]> {
    const tokens = await Promise.all(this.lanes[0].readers.map((r) => r.estimateTokens()));
    return this.domains.map((name, i) => ({ name, tokens: tokens[i] }));
  }

  /** The step the next call to `next()` builds. */
  get step(): number {
    return this.stepIndex;
  }

  /**
   * Build the next step's rows of this loader's lanes (the whole global batch with every lane)
   * with `weights` (one per domain, non-negative, normalised here) steering every document drawn
   * from now on. Returns null when every domain is exhausted (`on_exhausted: drop`) and nothing is
   * left; a last partial step is padded.
   */
  async next(weights: ArrayLike<number>): Promise<Batch | null> {
    this.setWeights(weights);
    // Lanes are independent (their own readers, sampler and packer), so they build concurrently:
    // one lane's tokenizer wait overlaps another's packing. Their bytes do not depend on it.
    const taken = await Promise.all(this.lanes.map((lane) => lane.take(this.weights, this.rowsPerLane)));
    if (taken.every((rows) => rows.length === 0)) return null;
    const rows: StreamItem[][] = [];
    taken.forEach((laneRows, j) => {
      while (laneRows.length < this.rowsPerLane) laneRows.push([]);
      this.lanes[j].account(laneRows);
      rows.push(...laneRows);
    });
    const batch = assembleBatch(
      rows.map((items) => ({ items })),
      this.seqLen,
      this.tokenizer.padId,
    );
    this.lastRows = rows;
    this.stepIndex += 1;
    return batch;
  }

  /**
   * Where every piece of the last batch came from, row by row: [id, domain, epoch, position,
   * offset, length, docLength, held, piece] with position in the domain's order of that epoch
   * (see `documentAt`), whichever lane served it.
   */
  lastServed(): ItemRef[][] {
    return this.lanes.flatMap((lane) => lane.lastServed());
  }

  /** Rows of the last batch, as the items packed into them (for callers that need the tokens too). */
  lastItems(): readonly (readonly StreamItem[])[] {
    return this.lastRows;
  }

  /** Which source of a domain holds the document at (epoch, position of the domain's order, as `lastServed` reports it), and its index there. */
  documentAt(domain: number, at: DocPosition): { source: DocumentSource; index: number } {
    return this.lanes[0].readers[domain].documentAt(at);
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
  }

  /** This loader's counters: its lanes' summed. */
  private counters(): LoaderCounters {
    return sumCounters(
      this.lanes.map((l) => l.counterValues),
      this.domains.length,
    );
  }

  /**
   * A domain's epoch: the lowest among the lanes (epoch e of a domain is done when every lane has
   * served its share of it).
   */
  private domainEpoch(i: number): number {
    let epoch = Infinity;
    for (const lane of this.lanes) epoch = Math.min(epoch, lane.readers[i].currentEpoch);
    return epoch;
  }

  stats(): LoaderStats {
    const c = this.counters();
    const achieved: Record<string, number> = {};
    const documents: Record<string, number> = {};
    const epochs: Record<string, number> = {};
    const skipped: Record<string, number> = {};
    this.domains.forEach((name, i) => {
      achieved[name] = c.tokens === 0 ? 0 : c.domainTokens[i] / c.tokens;
      documents[name] = c.domainDocuments[i];
      epochs[name] = this.domainEpoch(i);
      for (const lane of this.lanes) for (const [reason, n] of Object.entries(lane.readers[i].skippedCounts())) skipped[reason] = (skipped[reason] ?? 0) + n;
    });
    const total = c.tokens + c.paddingTokens;
    const selection = this.selectionStats();
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
      ...(selection === undefined ? {} : { selection }),
    };
  }

  /** Per domain, documents kept and dropped by selection and dedup (fixed at open); undefined when no domain selects. */
  selectionStats(): Record<string, SelectionStats> | undefined {
    return selectionStats(
      this.domains,
      this.selections,
      this.sources.map((list) => list.reduce((n, s) => n + s.numDocuments, 0)),
    );
  }

  /** Documents read and current epoch per domain, as fresh arrays (the cheap part of stats()). */
  domainCounts(): { documents: Float64Array; epochs: Float64Array } {
    const k = this.domains.length;
    const documents = Float64Array.from(this.counters().domainDocuments);
    const epochs = new Float64Array(k);
    for (let i = 0; i < k; i++) epochs[i] = this.domainEpoch(i);
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
      window: this.lanes[0].readers[i].window,
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
      version: 2,
      fingerprint: this.fingerprint,
      fingerprintInputs: this.fingerprintJson,
      step: this.stepIndex,
      laneCount: this.config.lanes,
      lanes: this.lanes.map((l) => l.state()),
      identities: sourceIdentities(this.sources),
      ...(this.selections.every((s) => s === null) ? {} : { selections: selectionDigests(this.selections) }),
    };
  }

  /**
   * Continue from a state: this loader's lanes are taken from it (a state holding more lanes,
   * such as a whole run's, is fine: see mergeLoaderStates for combining several nodes' states).
   */
  async restore(saved: LoaderState): Promise<void> {
    const state = upgradeLoaderState(saved);
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
    const byLane = new Map(state.lanes.map((l) => [l.lane, l]));
    const missing = this.lanes.filter((l) => !byLane.has(l.index)).map((l) => l.index);
    if (missing.length > 0)
      throw new ResumeMismatchError(
        `the state holds lanes [${[...byLane.keys()].join(", ")}] of ${state.laneCount}, not lane${missing.length > 1 ? "s" : ""} ${missing.join(", ")} this loader builds (pass the states of the nodes that built them)`,
      );
    for (const l of this.lanes) {
      if (byLane.get(l.index)!.readers.length !== this.domains.length)
        throw new ResumeMismatchError(`the state has ${byLane.get(l.index)!.readers.length} domains, the config has ${this.domains.length}`);
    }
    const changed = identityMismatch(state.identities, this.sources);
    if (changed !== undefined)
      throw new ResumeMismatchError(`the data changed since the state was saved (${changed}); the saved positions would address other documents`);
    const reselected = selectionMismatch(state.selections, this.selections, this.domains);
    if (reselected !== undefined) throw new ResumeMismatchError(reselected);
    this.stepIndex = state.step;
    for (const l of this.lanes) await l.restore(byLane.get(l.index)!);
  }

  async close(): Promise<void> {
    await this.tokenizer.close();
    for (const list of this.sources) for (const s of list) s.close();
    this.blockTiers.close();
  }
}

/** A state of any version as the current one (version 1: one lane, its fields at the top level). */
function upgradeLoaderState(state: unknown): LoaderState {
  const s = state as Record<string, unknown> | null;
  if (s === null || typeof s !== "object" || s.format !== "mixload-loader-state") throw new ResumeMismatchError("not a mixload loader state (format mismatch)");
  if (s.version === 2) return s as unknown as LoaderState;
  if (s.version !== 1) throw new ResumeMismatchError(`loader state version ${String(s.version)} is not supported (expected 1 or 2)`);
  const lane: LaneState = {
    lane: 0,
    sampler: s.sampler as number[],
    servedOwed: s.servedOwed as number[],
    readers: s.readers as LaneState["readers"],
    packer: s.packer as LaneState["packer"],
    counters: s.counters as LoaderCounters,
  };
  return {
    format: "mixload-loader-state",
    version: 2,
    fingerprint: s.fingerprint as string,
    fingerprintInputs: s.fingerprintInputs as string | undefined,
    step: s.step as number,
    laneCount: 1,
    lanes: [lane],
    identities: s.identities as LoaderState["identities"],
  };
}

/**
 * One state from the states of several loaders that built disjoint lanes of the same run at the
 * same step (one per node service): what an elastic resume onto another number of nodes reads.
 */
export function mergeLoaderStates(states: readonly LoaderState[]): LoaderState {
  if (states.length === 0) throw new ResumeMismatchError("no states to merge");
  const all = states.map(upgradeLoaderState);
  const [first] = all;
  const lanes = new Map<number, LaneState>();
  for (const s of all) {
    if (s.fingerprint !== first.fingerprint) throw new ResumeMismatchError("the states to merge come from runs with different configs");
    if (s.step !== first.step) throw new ResumeMismatchError(`the states to merge were saved at different steps (${first.step} and ${s.step})`);
    for (const l of s.lanes) {
      if (lanes.has(l.lane)) throw new ResumeMismatchError(`lane ${l.lane} is in more than one of the states to merge`);
      lanes.set(l.lane, l);
    }
  }
  return { ...first, lanes: [...lanes.values()].sort((a, b) => a.lane - b.lane) };
}
