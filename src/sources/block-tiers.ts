/**
 * Where decoded blocks (Parquet row groups, Arrow record batches) live between reads: a small
 * memory tier, then a spill tier on local disk. One instance is shared by all the domains of a
 * loader, so a heavily weighted domain keeps more blocks than a rarely drawn one.
 *
 * Why a disk tier: the block shuffle (sample/block-shuffle.ts) reads a window of `window` blocks
 * of a domain at a time, so a domain keeps `window` blocks in use, and 64 domains keep 64 ×
 * window. FineWeb-like row groups (1,000 documents ≈ 3 M characters) make that about 1 GB of
 * strings — over the RSS budget if held in memory, and decoded again and again (I/O
 * amplification ≫ 1) if not held at all. So a block leaving the memory tier is written, decoded,
 * as UTF-8 to a file of its own under the cache directory, and later rows are positioned reads
 * from it, as JSONL is served: each block is decoded about once per epoch and memory stays small.
 * The disk tier is an LRU by bytes too; a file leaving it is deleted.
 *
 * Spill files go in `<cache_dir>/spill/<pid>-<random>/` and are removed on close or when the process exits;
 * directories left by processes that no longer exist (SIGKILL) are removed on first use.
 */
import * as fs from "node:fs";
import { defaultCacheDir } from "./decompress-cache.js";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { BlockCache, DEFAULT_BLOCK_CACHE_BYTES, type CachedBlock } from "./block-cache.js";

/** A block decoded and held as values: one array per column, indexed by row in the block. */
export interface MemoryBlock extends CachedBlock {
  readonly kind: "memory";
  readonly text: readonly unknown[];
  readonly metadata: readonly (readonly unknown[])[];
  /** Rows read from it so far (distinct): a block whose every row was read is dropped, not spilled. */
  readonly read: Uint8Array;
  readCount: number;
}

/** Note that row `r` of a memory block was read. */
export function markRead(block: MemoryBlock, r: number): void {
  if (block.read[r] === 0) {
    block.read[r] = 1;
    block.readCount += 1;
  }
}

/** Row text kinds in a spill file. */
const STRING = 0;
const ABSENT = 1;
const BYTES = 2;

/** A block spilled to disk: text as UTF-8 at `offsets`, metadata (small scalars) still in memory. */
export interface DiskBlock extends CachedBlock {
  readonly kind: "disk";
  readonly file: string;
  /** Row r's text is bytes [offsets[r], offsets[r + 1]) of the file. */
  readonly offsets: Float64Array;
  /** STRING, ABSENT (null) or BYTES (raw binary, checked as UTF-8 when read). */
  readonly kinds: Uint8Array;
  readonly metadata: readonly (readonly unknown[])[];
  /** Set when the disk tier dropped it: its file is gone, ask again. */
  disposed: boolean;
}

export type TieredBlock = MemoryBlock | DiskBlock;

export const DEFAULT_SPILL_BYTES = 8192 * 2 ** 20;

export interface BlockTiersOptions {
  /** Memory for decoded blocks (config `source_cache_mb`). */
  readonly memoryBytes?: number;
  /** Disk for spilled blocks (config `source_spill_mb`). */
  readonly diskBytes?: number;
  /** Spill files go under `<cacheDir>/spill/` (config `cache_dir`). */
  readonly cacheDir?: string;
}

/** Owned by whoever opens the sources (the Loader: one for all its domains), closed with them. */
export class BlockTiers {
  private spillDir: string | null = null;
  private readonly cacheDir: string;
  private readonly removeOnExit = (): void => this.removeSpillDir();
  private readonly disk = new BlockCache(DEFAULT_SPILL_BYTES, (_key, block) => {
    const b = block as DiskBlock;
    b.disposed = true;
    fs.rmSync(b.file, { force: true });
  });
  private readonly memory = new BlockCache(DEFAULT_BLOCK_CACHE_BYTES, (key, block) => {
    const b = block as TieredBlock;
    // A block read through (sequential reading, or its window done) is not needed again this epoch.
    if (b.kind === "memory" && b.readCount < b.text.length && !this.closing.has(prefixOf(key))) this.disk.put(key, this.spill(key, b));
  });
  /** Sources being closed: their blocks are dropped, not spilled. */
  private readonly closing = new Set<string>();

  constructor(options: BlockTiersOptions = {}) {
    if (options.memoryBytes !== undefined) this.memory.setBudget(options.memoryBytes);
    if (options.diskBytes !== undefined) this.disk.setBudget(options.diskBytes);
    this.cacheDir = options.cacheDir ?? defaultCacheDir();
  }

  /** Forget every block and delete the spill directory. */
  close(): void {
    this.memory.dropPrefix("");
    this.disk.dropPrefix("");
    this.removeSpillDir();
  }

  /** The block under `key`: from memory, from disk, or decoded by `load` into memory. */
  async get(key: string, load: () => Promise<MemoryBlock>): Promise<TieredBlock> {
    const inMemory = this.memory.peek<MemoryBlock>(key);
    if (inMemory !== undefined) return inMemory;
    const onDisk = this.disk.peek<DiskBlock>(key);
    if (onDisk !== undefined && !onDisk.disposed) return onDisk;
    return this.memory.get(key, load);
  }

  /** Forget a source's blocks (it is closing), deleting their spill files. */
  drop(prefix: string): void {
    this.closing.add(prefix);
    try {
      this.memory.dropPrefix(prefix);
      this.disk.dropPrefix(prefix);
    } finally {
      this.closing.delete(prefix);
    }
  }

  private spill(key: string, block: MemoryBlock): DiskBlock {
    const dir = this.ensureSpillDir();
    const file = path.join(dir, `${key.replace(/[^A-Za-z0-9_-]/g, "_")}.txt`);
    const n = block.text.length;
    const offsets = new Float64Array(n + 1);
    const kinds = new Uint8Array(n);
    const parts: Buffer[] = [];
    let pos = 0;
    for (let r = 0; r < n; r++) {
      const t = block.text[r];
      let bytes: Buffer | null = null;
      if (typeof t === "string") bytes = Buffer.from(t, "utf8");
      else if (t instanceof Uint8Array) {
        bytes = Buffer.from(t.buffer, t.byteOffset, t.byteLength);
        kinds[r] = BYTES;
      } else kinds[r] = ABSENT;
      offsets[r] = pos;
      if (bytes !== null) {
        parts.push(bytes);
        pos += bytes.byteLength;
      }
    }
    offsets[n] = pos;
    fs.writeFileSync(file, Buffer.concat(parts, pos));
    return { kind: "disk", file, offsets, kinds, metadata: block.metadata, disposed: false, bytes: pos };
  }

  private ensureSpillDir(): string {
    if (this.spillDir !== null) return this.spillDir;
    const root = path.join(this.cacheDir, "spill");
    fs.mkdirSync(root, { recursive: true });
    removeOrphans(root);
    const dir = path.join(root, `${process.pid}-${randomBytes(4).toString("hex")}`);
    fs.mkdirSync(dir);
    process.once("exit", this.removeOnExit);
    this.spillDir = dir;
    return dir;
  }

  private removeSpillDir(): void {
    if (this.spillDir === null) return;
    fs.rmSync(this.spillDir, { recursive: true, force: true });
    process.off("exit", this.removeOnExit);
    this.spillDir = null;
  }
}

/** Spill directories of processes that are gone (named `<pid>-<random>`). */
function removeOrphans(root: string): void {
  for (const name of fs.readdirSync(root)) {
    const pid = Number(name.split("-")[0]);
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ESRCH") fs.rmSync(path.join(root, name), { recursive: true, force: true });
    }
  }
}

function prefixOf(key: string): string {
  return key.slice(0, key.indexOf(":") + 1);
}

const fatalUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Read rows of spilled blocks: one fd per block for the whole batch of reads. Call only for
 * blocks that are not disposed, in the same synchronous stretch as that check.
 */
export class SpillReader {
  private readonly fds = new Map<DiskBlock, number>();

  /** Row `r`'s text: a string, null for an absent value, or a Uint8Array for raw binary. */
  text(block: DiskBlock, r: number): string | Uint8Array | null {
    const kind = block.kinds[r];
    if (kind === ABSENT) return null;
    let fd = this.fds.get(block);
    if (fd === undefined) {
      fd = fs.openSync(block.file, "r");
      this.fds.set(block, fd);
    }
    const start = block.offsets[r];
    const length = block.offsets[r + 1] - start;
    const bytes = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(fd, bytes, done, length - done, start + done);
      if (n === 0) throw new Error(`spill file ${block.file} is shorter than recorded (deleted or truncated by someone else?)`);
      done += n;
    }
    if (kind === BYTES) return bytes;
    return fatalUtf8.decode(bytes);
  }

  close(): void {
    for (const fd of this.fds.values()) fs.closeSync(fd);
    this.fds.clear();
  }
}
