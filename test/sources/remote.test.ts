/**
 * Remote sources (`http(s)://` paths) against a real nginx: the same documents as the local files,
 * document by document, also while a fault-injecting proxy in front of nginx answers 503, resets
 * connections mid-body and stalls past the timeout; one-line errors for 404 and for servers that
 * ignore ranges; a file replaced on the server is detected mid-read and its identity change is
 * named; retries are bounded.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openSource, type OpenSourceOptions, type SourceSpecInput, sourceSpecSchema } from "../../src/sources/index.js";
import { MegatronWriter } from "../../src/sources/megatron.js";
import type { RemoteOptions } from "../../src/sources/remote.js";
import { describeIdentityChange } from "../../src/sources/identity.js";
import { readDocuments, type DocumentSource, type ReadResult } from "../../src/sources/types.js";
import { brownParagraphs, tempDir } from "../helpers/fixtures.js";
import { startNginx, type Nginx } from "../helpers/nginx.js";
import { FaultProxy } from "../helpers/fault-proxy.js";

const root = tempDir("mixload-remote-root-");
const cacheDir = tempDir("mixload-remote-cache-");
let nginx: Nginx;
let proxy: Awaited<ReturnType<typeof FaultProxy.start>>;

/**
 * Fast retries so fault tests take milliseconds; the timeout is well above loopback latency. No
 * preloading, so these small files are read by range requests as large ones are.
 */
const FAST: RemoteOptions = { attempts: 4, baseDelayMs: 5, maxDelayMs: 20, timeoutMs: 1000, preloadBytes: 0 };

/** Just below the fixtures' id range, so some Megatron documents are token_out_of_range (as some are empty). */
const VOCAB = 49_990;

function open(spec: SourceSpecInput, http: RemoteOptions = FAST, cache = cacheDir): Promise<DocumentSource> {
  const options: OpenSourceOptions = { baseDir: root, cacheDir: cache, http, vocabSize: VOCAB };
  return openSource(sourceSpecSchema.parse(spec), options);
}

/** A seeded shuffle: reads arrive in a permuted order, as the loader asks for them. */
function shuffled(n: number, seed = 1): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  let s = seed;
  for (let i = n - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const j = s % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** All documents of `source` in `order`, read in blocks of 64 as a domain reader does. */
async function readInBlocks(source: DocumentSource, order: readonly number[]): Promise<Map<number, ReadResult>> {
  const out = new Map<number, ReadResult>();
  for (let b = 0; b < order.length; b += 64) {
    const block = order.slice(b, b + 64);
    const docs = await readDocuments(source, block);
    block.forEach((d, k) => out.set(d, docs[k]));
  }
  return out;
}

/** Document i of both, equal; bad documents may name different files (path vs URL), nothing else differs. */
function expectSameDocuments(local: Map<number, ReadResult>, remote: Map<number, ReadResult>, localName: string, url: string): void {
  expect(remote.size).toBe(local.size);
  for (const [i, doc] of local) {
    const r = remote.get(i)!;
    // Token arrays compared as bytes: a deep equal element by element takes seconds here.
    if (
      doc.kind === "tokens" &&
      r.kind === "tokens" &&
      Buffer.from(doc.tokens.buffer, doc.tokens.byteOffset, doc.tokens.byteLength).equals(
        Buffer.from(r.tokens.buffer, r.tokens.byteOffset, r.tokens.byteLength),
      )
    )
      continue;
    const l = doc.kind === "bad" ? { ...doc, file: doc.file.replace(localName, url) } : doc;
    expect(r, `document ${i}`).toEqual(l);
  }
}

async function readAllLocal(spec: SourceSpecInput): Promise<Map<number, ReadResult>> {
  const source = await open(spec);
  try {
    return await readInBlocks(source, shuffled(source.numDocuments));
  } finally {
    source.close();
  }
}

async function readAllRemote(spec: SourceSpecInput, http?: RemoteOptions, cache?: string): Promise<Map<number, ReadResult>> {
  const source = await open(spec, http, cache);
  try {
    return await readInBlocks(source, shuffled(source.numDocuments, 2));
  } finally {
    source.close();
  }
}

beforeAll(async () => {
  // JSONL: Brown paragraphs plus the lines a real file has (blank, CRLF, broken JSON, a missing field).
  const paragraphs = await brownParagraphs("ca0[1-3]");
  const lines = paragraphs.map((text, i) => JSON.stringify(i % 7 === 0 ? { meta: { id: i }, text } : { text }));
  lines.splice(5, 0, "", '{"text": "a CRLF line"}\r', "{not json", '{"title": "no text field"}', "   ");
  const jsonl = lines.join("\n") + "\n";
  fs.writeFileSync(path.join(root, "docs.jsonl"), jsonl);
  fs.writeFileSync(path.join(root, "docs.jsonl.gz"), gzipSync(jsonl));
  // Megatron: random token documents of varied length (uint16 and int32 dtypes), some empty.
  for (const [name, vocab] of [
    ["tok16", 50_000],
    ["tok32", 200_000],
  ] as const) {
    const w = new MegatronWriter(path.join(root, name), { vocabSize: vocab });
    let s = 7;
    for (let d = 0; d < 700; d++) {
      s = (s * 48271) % 2147483647;
      const doc = new Int32Array(d % 97 === 3 ? 0 : 1 + (s % 900));
      for (let t = 0; t < doc.length; t++) doc[t] = (s + t * 7919) % 50_000;
      w.add(doc);
    }
    w.finish();
  }
  nginx = await startNginx(root);
  proxy = await FaultProxy.start(nginx.url);
}, 30_000);

afterAll(async () => {
  await proxy?.stop();
  await nginx?.stop();
  for (const dir of [root, cacheDir]) fs.rmSync(dir, { recursive: true, force: true });
});

describe("remote Megatron", () => {
  it.each(["tok16", "tok32"])("%s over HTTP reads the same documents as the local files", async (name) => {
    const local = await readAllLocal({ type: "megatron", path: name });
    const remote = await readAllRemote({ type: "megatron", path: `${nginx.url}/${name}` });
    expectSameDocuments(local, remote, path.join(root, name), `${nginx.url}/${name}`);
    const reasons = new Set([...remote.values()].map((d) => (d.kind === "bad" ? d.reason : d.kind)));
    expect(reasons).toEqual(new Set(["tokens", "empty_document", "token_out_of_range"]));
  });

  it("merges a block's documents into few range requests", async () => {
    const source = await open({ type: "megatron", path: `${proxy.url}/tok16` });
    try {
      const before = proxy.requests.length;
      await readDocuments(source, shuffled(source.numDocuments).slice(0, 64));
      // 700 documents of ≤ 1.8 KB: 64 random ones sit within 64 KiB of each other.
      expect(proxy.requests.length - before).toBeLessThanOrEqual(2);
    } finally {
      source.close();
    }
  });

  it("has an identity naming both files' ETag, Last-Modified and size", async () => {
    const source = await open({ type: "megatron", path: `${nginx.url}/tok16` });
    source.close();
    expect(source.identity).toMatch(new RegExp(`^${nginx.url}/tok16\\.idx\\tetag="[^"]+";last_modified=[^;]+ GMT;size=\\d+\\n${nginx.url}/tok16\\.bin\\t`));
  });
});

describe("small files, fetched whole at open (preload)", () => {
  it.each([
    ["Megatron", { type: "megatron", path: "tok32" }, "tok32"],
    ["JSONL", { type: "jsonl", path: "docs.jsonl" }, "docs.jsonl"],
  ] as const)("%s: the same documents, and no request after open", async (_, spec, file) => {
    const local = await readAllLocal(spec);
    const source = await open({ ...spec, path: `${proxy.url}/${file}` }, { ...FAST, preloadBytes: undefined });
    try {
      const before = proxy.requests.length;
      const remote = await readInBlocks(source, shuffled(source.numDocuments, 4));
      expect(proxy.requests.length).toBe(before);
      expectSameDocuments(local, remote, path.join(root, file), `${proxy.url}/${file}`);
    } finally {
      source.close();
    }
  });
});

describe("remote JSONL", () => {
  it("reads the same documents, bad lines and line numbers as the local file", async () => {
    const local = await readAllLocal({ type: "jsonl", path: "docs.jsonl", metadata: ["meta.id"] });
    const remote = await readAllRemote({ type: "jsonl", path: `${nginx.url}/docs.jsonl`, metadata: ["meta.id"] });
    expectSameDocuments(local, remote, path.join(root, "docs.jsonl"), `${nginx.url}/docs.jsonl`);
    expect(remote.get(10)).toEqual({ kind: "text", text: expect.any(String), metadata: { "meta.id": 7 } }); // paragraph 7, after 3 non-blank inserted lines
    expect([...remote.values()].filter((d) => d.kind === "bad").map((d) => d.kind === "bad" && `${d.line} ${d.reason}`)).toEqual([
      "8 malformed_json",
      "9 missing_field",
    ]);
  });

  it("scans the file once: a second open is one request plus the cached line index", async () => {
    const cache = tempDir("mixload-remote-cache-");
    const spec = { type: "jsonl", path: `${proxy.url}/docs.jsonl` } as const;
    const first = proxy.requests.length;
    (await open(spec, FAST, cache)).close();
    expect(proxy.requests.slice(first).map((r) => r.range)).toEqual(["bytes=0-0", "bytes=0-"]);
    const second = proxy.requests.length;
    (await open(spec, FAST, cache)).close();
    expect(proxy.requests.slice(second).map((r) => r.range)).toEqual(["bytes=0-0"]);
    fs.rmSync(cache, { recursive: true });
  });

  it("reads .jsonl.gz by downloading it once into the cache", async () => {
    const local = await readAllLocal({ type: "jsonl", path: "docs.jsonl.gz" });
    const remote = await readAllRemote({ type: "jsonl", path: `${nginx.url}/docs.jsonl.gz` });
    expectSameDocuments(local, remote, path.join(root, "docs.jsonl.gz"), `${nginx.url}/docs.jsonl.gz`);
  });
});

describe("under injected faults (503, reset mid-body, a response slower than the timeout)", () => {
  const faults = [
    { kind: "status", status: 503 },
    { kind: "reset-mid-body" },
    { kind: "delay", ms: 300 },
    { kind: "status", status: 429 },
    { kind: "reset-mid-body" },
  ] as const;
  const slow: RemoteOptions = { ...FAST, timeoutMs: 150 };

  it.each([
    ["Megatron", { type: "megatron", path: "tok16" }, "tok16"],
    ["JSONL", { type: "jsonl", path: "docs.jsonl" }, "docs.jsonl"],
    ["JSONL.gz", { type: "jsonl", path: "docs.jsonl.gz" }, "docs.jsonl.gz"],
  ] as const)("%s documents are identical", async (_, spec, file) => {
    const local = await readAllLocal(spec);
    const cache = tempDir("mixload-remote-cache-"); // so the index scan / download runs under faults too
    const injectedBefore = proxy.faultsInjected();
    // Faults land on the open, the scan and the reads: one every few requests, each request retried at most twice.
    const source = await (async () => {
      proxy.inject(faults[0], faults[1], faults[4]);
      return open({ ...spec, path: `${proxy.url}/${file}` }, slow, cache);
    })();
    try {
      const remote = new Map<number, ReadResult>();
      const order = shuffled(source.numDocuments, 3);
      for (let b = 0, f = 1; b < order.length; b += 64, f++) {
        proxy.inject(faults[f % faults.length]);
        const block = order.slice(b, b + 64);
        (await readDocuments(source, block)).forEach((d, k) => remote.set(block[k], d));
      }
      expectSameDocuments(local, remote, path.join(root, file), `${proxy.url}/${file}`);
    } finally {
      source.close();
      proxy.heal();
      fs.rmSync(cache, { recursive: true });
    }
    expect(proxy.faultsInjected() - injectedBefore).toBeGreaterThanOrEqual(2);
  });

  it("a reset in the middle of the index scan resumes where it stopped", async () => {
    const cache = tempDir("mixload-remote-cache-");
    const before = proxy.requests.length;
    proxy.inject({ kind: "pass" }, { kind: "reset-mid-body" });
    const source = await open({ type: "jsonl", path: `${proxy.url}/docs.jsonl` }, FAST, cache);
    source.close();
    const ranges = proxy.requests.slice(before).map((r) => r.range);
    // the open, the scan cut short, the scan resumed mid-file
    expect(ranges.slice(0, 2)).toEqual(["bytes=0-0", "bytes=0-"]);
    expect(ranges[2]).toMatch(/^bytes=[1-9]\d*-$/);
    expect(ranges.length).toBe(3);
    expect(source.numDocuments).toBe((await open({ type: "jsonl", path: "docs.jsonl" })).numDocuments);
    fs.rmSync(cache, { recursive: true });
  });

  it("retries are bounded: a server that always fails gives a one-line error after N attempts", async () => {
    proxy.failAlways({ kind: "status", status: 503 });
    const before = proxy.requests.length;
    try {
      const err = await open({ type: "megatron", path: `${proxy.url}/tok16` }, { ...FAST, attempts: 3 }).catch((e: Error) => e);
      expect(String(err)).toBe(`DataError: ${proxy.url}/tok16.idx: unreadable_file: HTTP 503 Service Unavailable (gave up after 3 attempts)`);
      expect(proxy.requests.length - before).toBe(3);
    } finally {
      proxy.heal();
    }
  });

  it("a server that never answers in time fails after N timeouts, not a hang", async () => {
    proxy.failAlways({ kind: "delay", ms: 2000 });
    try {
      const t0 = Date.now();
      const err = await open({ type: "jsonl", path: `${proxy.url}/docs.jsonl` }, { ...FAST, attempts: 2, timeoutMs: 100 }).catch((e: Error) => e);
      expect(String(err)).toBe(`DataError: ${proxy.url}/docs.jsonl: unreadable_file: no complete response within 100 ms (gave up after 2 attempts)`);
      expect(Date.now() - t0).toBeLessThan(1500);
    } finally {
      proxy.heal();
    }
  });
});

describe("errors", () => {
  it("a missing file fails at once, in one line", async () => {
    const before = proxy.requests.length;
    const err = await open({ type: "jsonl", path: `${proxy.url}/missing.jsonl` }).catch((e: Error) => e);
    expect(String(err)).toBe(`DataError: ${proxy.url}/missing.jsonl: unreadable_file: HTTP 404 Not Found`);
    expect(proxy.requests.length - before).toBe(1); // 4xx is not retried
  });

  it("a server that ignores Range is refused, not taken as the range", async () => {
    const err = await open({ type: "megatron", path: `${nginx.url}/norange/tok16` }).catch((e: Error) => e);
    expect(String(err)).toBe(
      `DataError: ${nginx.url}/norange/tok16.idx: unreadable_file: the server ignores range requests (HTTP 200 to Range: bytes=0-0); remote files need range support`,
    );
  });

  it("text and nanoGPT sources over HTTP are refused by name", async () => {
    const err = await open({ type: "nanogpt", path: `${nginx.url}/x.bin`, eos_id: 0 }).catch((e: Error) => e);
    expect(String(err)).toContain(`${nginx.url}/x.bin: unreadable_file: "nanogpt" sources cannot be read over HTTP`);
  });
});

describe("a file replaced on the server", () => {
  /** A copy of tok16 under a new name, so replacing it leaves the other tests' files alone. */
  function copyPrefix(name: string): void {
    for (const ext of [".bin", ".idx"]) fs.copyFileSync(path.join(root, `tok16${ext}`), path.join(root, `${name}${ext}`));
  }
  /** Rewrite a file and move its mtime, as a re-upload would (nginx's ETag is mtime-size). */
  function replace(file: string, bytes: Uint8Array, mtime: number): void {
    fs.writeFileSync(path.join(root, file), bytes);
    fs.utimesSync(path.join(root, file), mtime, mtime);
  }

  it("is detected mid-read when its size changed", async () => {
    copyPrefix("grow");
    const source = await open({ type: "megatron", path: `${nginx.url}/grow` });
    try {
      const bin = fs.readFileSync(path.join(root, "grow.bin"));
      replace("grow.bin", Buffer.concat([bin, bin]), 1_000_000);
      const err = await readDocuments(source, [0, 1, 2]).catch((e: Error) => e);
      expect(String(err)).toMatch(new RegExp(`^DataError: ${nginx.url}/grow\\.bin: unreadable_file: changed on the server since it was opened \\(.*\\)$`));
    } finally {
      source.close();
    }
  });

  it("is detected mid-read when only its content and ETag changed (same size)", async () => {
    copyPrefix("same");
    const source = await open({ type: "megatron", path: `${nginx.url}/same` });
    try {
      const bin = fs.readFileSync(path.join(root, "same.bin"));
      replace(
        "same.bin",
        bin.map((b) => b ^ 1),
        2_000_000,
      );
      const err = await readDocuments(source, [0]).catch((e: Error) => e);
      expect(String(err)).toBe(
        `DataError: ${nginx.url}/same.bin: unreadable_file: changed on the server since it was opened (the server refused If-Match/If-Unmodified-Since (HTTP 412))`,
      );
    } finally {
      source.close();
    }
  });

  it("has a new identity whose difference names the file, size and ETag (what resume refuses)", async () => {
    fs.copyFileSync(path.join(root, "docs.jsonl"), path.join(root, "edited.jsonl"));
    const url = `${nginx.url}/edited.jsonl`;
    const before = await open({ type: "jsonl", path: url });
    before.close();
    fs.appendFileSync(path.join(root, "edited.jsonl"), '{"text": "one more"}\n');
    fs.utimesSync(path.join(root, "edited.jsonl"), 3_000_000, 3_000_000);
    const after = await open({ type: "jsonl", path: url });
    after.close();
    expect(after.numDocuments).toBe(before.numDocuments + 1); // a fresh line index, not the cached one
    const change = describeIdentityChange(before.identity!, after.identity!, url);
    expect(change).toMatch(new RegExp(`^${url} changed: etag "[^"]+" → "[^"]+", last_modified .* → .*, size \\d+ → \\d+$`));
  });
});
