/**
 * An LRU of decoded blocks (Parquet row groups, Arrow record batches) bounded by bytes: the
 * building block of the two tiers in block-tiers.ts (memory, then a spill to local disk).
 *
 * Two readers asking for the same block while it is being decoded share one decode, and at most
 * MAX_LOADS decodes run at once.
 */

export const DEFAULT_BLOCK_CACHE_BYTES = 32 << 20;

/** Decodes in flight at once (remote reads overlap their latency; local ones are CPU-bound anyway). */
const MAX_LOADS = 2;

export interface CachedBlock {
  /** Approximate heap bytes of the decoded block (JS strings: 2 bytes per UTF-16 unit, plus overhead). */
  readonly bytes: number;
}

export class BlockCache {
  private readonly entries = new Map<string, CachedBlock>();
  private readonly inFlight = new Map<string, Promise<CachedBlock>>();
  private used = 0;
  private loads = 0;
  private readonly waiting: (() => void)[] = [];

  /** `onEvict` is told of every block leaving the cache (the spill tier moves it to disk). */
  constructor(
    private budget: number = DEFAULT_BLOCK_CACHE_BYTES,
    private readonly onEvict?: (key: string, block: CachedBlock) => void,
  ) {}

  /** The cached block under `key` (marked recently used), or undefined; never loads. */
  peek<T extends CachedBlock>(key: string): T | undefined {
    const hit = this.entries.get(key);
    if (hit === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, hit);
    return hit as T;
  }

  /** Insert a block made elsewhere (a spilled copy). */
  put(key: string, block: CachedBlock): void {
    const old = this.entries.get(key);
    if (old !== undefined) {
      this.entries.delete(key);
      this.used -= old.bytes;
      this.onEvict?.(key, old);
    }
    this.entries.set(key, block);
    this.used += block.bytes;
    this.evict();
  }

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
    const loading = this.limited(load).then(
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

  /**
   * At most MAX_LOADS decodes at once. Decoding is CPU on this thread after a little I/O, so more
   * in parallel buys nothing but memory: 64 domains opening together would otherwise each hold a
   * compressed column chunk and a half-built row group at the same moment.
   */
  private async limited<T>(load: () => Promise<T>): Promise<T> {
    while (this.loads >= MAX_LOADS) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.loads++;
    try {
      return await load();
    } finally {
      this.loads--;
      this.waiting.shift()?.();
    }
  }

  /** Drop every block whose key starts with `prefix` (a source closing). */
  dropPrefix(prefix: string): void {
    for (const [key, block] of this.entries) {
      if (key.startsWith(prefix)) {
        this.entries.delete(key);
        this.used -= block.bytes;
        this.onEvict?.(key, block);
      }
    }
  }

  private evict(): void {
    // Least recently used first; the newest block stays even if it alone exceeds the budget.
    for (const [key, block] of this.entries) {
      if (this.used <= this.budget || this.entries.size <= 1) break;
      this.entries.delete(key);
      this.used -= block.bytes;
      this.onEvict?.(key, block);
    }
  }
}
