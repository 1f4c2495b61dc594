/**
 * Decoded blocks (Parquet row groups, Arrow record batches), kept in one LRU bounded by bytes
 * and shared by every source in the process, so a heavily weighted domain keeps more of its
 * blocks than a rarely drawn one without anyone sizing caches per domain.
 *
 * Two readers asking for the same block while it is being decoded share one decode. A reader
 * keeps its own reference to what it got, so an eviction in between never pulls data out from
 * under a read in progress; it only means the next reader decodes again (and the source's
 * I/O-amplification counters show it).
 */

/** Default budget: 64 Parquet domains at one shuffle window each fit inside the 300 MB RSS budget for small row groups. */
export const DEFAULT_BLOCK_CACHE_BYTES = 96 << 20;

export interface CachedBlock {
  /** Approximate heap bytes of the decoded block (JS strings: 2 bytes per UTF-16 unit, plus overhead). */
  readonly bytes: number;
}

export class BlockCache {
  private readonly entries = new Map<string, CachedBlock>();
  private readonly inFlight = new Map<string, Promise<CachedBlock>>();
  private used = 0;

  constructor(private budget: number = DEFAULT_BLOCK_CACHE_BYTES) {}

  setBudget(bytes: number): void {
    this.budget = bytes;
    this.evict();
  }

  get bytesUsed(): number {
    return this.used;
  }

  /** The block under `key`, decoding it with `load` if it is neither cached nor being decoded. */
  get<T extends CachedBlock>(key: string, load: () => Promise<T>): Promise<T> {
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      // Map order is insertion order: re-inserting marks the entry most recently used.
      this.entries.delete(key);
      this.entries.set(key, hit);
      return Promise.resolve(hit as T);
    }
    const pending = this.inFlight.get(key);
    if (pending !== undefined) return pending as Promise<T>;
    const loading = load().then(
      (block) => {
        this.inFlight.delete(key);
        this.entries.set(key, block);
        this.used += block.bytes;
        this.evict();
        return block;
      },
      (error: unknown) => {
        this.inFlight.delete(key);
        throw error;
      },
    );
    this.inFlight.set(key, loading);
    return loading;
  }

  /** Drop every block whose key starts with `prefix` (a source closing). */
  dropPrefix(prefix: string): void {
    for (const [key, block] of this.entries) {
      if (key.startsWith(prefix)) {
        this.entries.delete(key);
        this.used -= block.bytes;
      }
    }
  }

  private evict(): void {
    // Least recently used first; the newest block stays even if it alone exceeds the budget.
    for (const [key, block] of this.entries) {
      if (this.used <= this.budget || this.entries.size <= 1) break;
      this.entries.delete(key);
      this.used -= block.bytes;
    }
  }
}

/** The process-wide cache the Parquet and Arrow sources share (budget: config `source_cache_mb`). */
export const sharedBlockCache = new BlockCache();
