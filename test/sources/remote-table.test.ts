/**
 * Parquet and Arrow over HTTP range requests from a real nginx (test/helpers/nginx.ts), through a
 * proxy that injects faults (503, a reset mid-body, a response slower than the timeout): the same
 * documents as the local files, only footers and the needed column chunks fetched, a file
 * replaced on the server refused, and a loader with a remote Parquet domain resuming bit for bit.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openParquet } from "../../src/sources/parquet.js";
import { openArrow } from "../../src/sources/arrow.js";
import type { TableSource } from "../../src/sources/table-source.js";
import type { HttpOptions } from "../../src/sources/http.js";
import type { ReadResult } from "../../src/sources/types.js";
import { BlockTiers } from "../../src/sources/block-tiers.js";
import { Loader, type LoaderState } from "../../src/loader/loader.js";
import { batchDigest } from "../../src/batch/assemble.js";
import { decodeStateBlob, encodeStateBlob } from "../../src/loader/state-blob.js";
import { startNginx, type Nginx } from "../helpers/nginx.js";
import { FaultProxy } from "../helpers/fault-proxy.js";
import { loaded, smallBrownConfig, tempDir } from "../helpers/fixtures.js";
import { mixedDocs, writeArrowIpc, writeParquet, type FixtureDoc } from "../helpers/parquet-fixtures.js";

const FAST: HttpOptions = { attempts: 4, baseDelayMs: 5, maxDelayMs: 20, timeoutMs: 400 };
const root = tempDir("mixload-remote-table-");
let nginx: Nginx;
let proxy: Awaited<ReturnType<typeof FaultProxy.start>>;
let docs: FixtureDoc[];

beforeAll(async () => {
  docs = await mixedDocs();
  await writeParquet(docs, path.join(root, "web.parquet"), { rowGroupSize: 40, codec: "zstd" });
  writeArrowIpc(docs, path.join(root, "books.arrow"), "stream", 50);
  nginx = await startNginx(root);
  proxy = await FaultProxy.start(nginx.url);
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await nginx?.stop();
});

async function all(source: TableSource, order: readonly number[]): Promise<ReadResult[]> {
  const out: ReadResult[] = [];
  for (let i = 0; i < order.length; i += 64) out.push(...(await source.readMany(order.slice(i, i + 64))));
  return out;
}

const scattered = (n: number) => Array.from({ length: n }, (_, i) => (i * 37) % n);

describe("remote Parquet and Arrow", () => {
  it.each([
    ["parquet", "web.parquet", openParquet],
    ["arrow", "books.arrow", openArrow],
  ] as const)("%s: the same documents as the local file, fetching only what it needs", async (_, file, open) => {
    const local = await open(path.join(root, file), "/", { metadata: ["id", "score"] });
    const before = proxy.requests.length;
    const remote = await open(`${proxy.url}/${file}`, "/", { metadata: ["id", "score"], http: FAST });
    try {
      expect(remote.info.remote).toBe(true);
      expect(remote.numDocuments).toBe(local.numDocuments);
      const order = scattered(local.numDocuments);
      expect(await all(remote, order)).toEqual(await all(local, order));
      // Parquet: footer, then column chunks; never a GET of the whole file.
      expect(proxy.requests.slice(before).every((r) => r.range !== undefined && r.range !== "bytes=0-")).toBe(true);
    } finally {
      local.close();
      remote.close();
    }
  });

  it("documents are identical under 503s, resets mid-body and slow responses", async () => {
    const local = await openParquet(path.join(root, "web.parquet"), "/", { metadata: ["url"] });
    // Keep (nearly) nothing decoded, so row groups are fetched again when needed: more requests to fault.
    const tiers = new BlockTiers({ memoryBytes: 1, diskBytes: 1 });
    try {
      proxy.inject({ kind: "status", status: 503 }, { kind: "pass" }, { kind: "reset-mid-body" });
      const remote = await openParquet(`${proxy.url}/web.parquet`, "/", { metadata: ["url"], http: FAST, tiers });
      const injected = proxy.faultsInjected();
      try {
        const order = scattered(local.numDocuments);
        const got: ReadResult[] = [];
        for (let i = 0, f = 0; i < order.length; i += 64, f++) {
          proxy.inject([{ kind: "status", status: 503 } as const, { kind: "reset-mid-body" } as const, { kind: "delay", ms: 600 } as const][f % 3]);
          got.push(...(await remote.readMany(order.slice(i, i + 64))));
        }
        expect(got).toEqual(await all(local, order));
        expect(proxy.faultsInjected() - injected).toBeGreaterThanOrEqual(3);
      } finally {
        remote.close();
        proxy.heal();
      }
    } finally {
      tiers.close();
      local.close();
    }
  });

  it("a file replaced on the server while open is refused, naming the URL", async () => {
    const dir = path.join(root, "swap");
    fs.mkdirSync(dir, { recursive: true });
    await writeParquet(docs.slice(0, 100), path.join(dir, "a.parquet"), { rowGroupSize: 10 });
    const remote = await openParquet(`${nginx.url}/swap/a.parquet`, "/", { http: FAST });
    try {
      await writeParquet(docs.slice(50, 150), path.join(dir, "a.parquet"), { rowGroupSize: 10 });
      await expect(remote.readMany([5])).rejects.toThrow(/swap\/a\.parquet.*changed on the server/);
    } finally {
      remote.close();
    }
  });

  it("a loader with a remote Parquet domain resumes bit for bit, and gives the local digests", async () => {
    const domains = (where: string) => [
      { name: "web", sources: [{ type: "parquet", path: `${where}/web.parquet`, metadata: ["score"] }] },
      { name: "books", sources: [{ type: "arrow", path: `${where}/books.arrow` }] },
    ];
    const config = (where: string) => loaded(smallBrownConfig({ seq_len: 256, batch_size: 2, world: 1, domains: domains(where) }));
    const digests = async (loader: Loader, n: number) => {
      const out: string[] = [];
      for (let i = 0; i < n; i++) out.push(batchDigest((await loader.next([0.6, 0.4]))!));
      return out;
    };
    const local = await Loader.open(config(root));
    const expected = await digests(local, 8);
    await local.close();
    const first = await Loader.open(config(nginx.url));
    const head = await digests(first, 3);
    const blob = encodeStateBlob(first.state());
    await first.close();
    const second = await Loader.open(config(nginx.url));
    await second.restore(decodeStateBlob(blob) as LoaderState);
    const tail = await digests(second, 5);
    await second.close();
    expect([...head, ...tail]).toEqual(expected);
  });
});
