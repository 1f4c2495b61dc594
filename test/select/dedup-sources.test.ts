/**
 * Dedup over the loader's real sources (JSONL, Megatron token files) and its sidecar: the keep
 * rule across domains, token shingles, bad documents, the cache, and a sidecar from changed data
 * refused in one line naming the file.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, test } from "vitest";
import { parseConfig, type LoadedConfig } from "../../src/config/load.js";
import { openSource } from "../../src/sources/index.js";
import { MegatronWriter } from "../../src/sources/megatron.js";
import type { DocumentSource } from "../../src/sources/types.js";
import { loadOrComputeDedup, writeSidecar, sidecarKey, computeDedup, cachedSidecar } from "../../src/select/dedup/index.js";
import { mulberry32 } from "../../src/util/hash.js";
import { LLAMA3, tempDir } from "../helpers/fixtures.js";
import { editWords, spamTexts, writeJsonl } from "./dedup-fixtures.js";

const mails = spamTexts(16).slice(0, 60);
const tokenizer = { path: path.join(LLAMA3, "tokenizer.json"), workers: 0 };

function config(dir: string, domains: [string, string][], dedup: unknown = {}, extra: Record<string, unknown> = {}): LoadedConfig {
  return parseConfig(
    {
      tokenizer,
      cache_dir: path.join(dir, "cache"),
      dedup,
      domains: domains.map(([name, file]) => ({ name, sources: [{ type: "jsonl", path: file }] })),
      ...extra,
    },
    dir,
  );
}

async function open(loaded: LoadedConfig): Promise<DocumentSource[][]> {
  const out: DocumentSource[][] = [];
  for (const d of loaded.config.domains) out.push(await Promise.all(d.sources.map((s) => openSource(s, { baseDir: loaded.baseDir }))));
  return out;
}

function close(sources: DocumentSource[][]): void {
  for (const list of sources) for (const s of list) s.close();
}

/** web: mails 0..29; books: mails 30..59 with an exact twin of web #5 (other case and spacing) at id 2 and a near copy of web #1 at id 4. */
function twoDomains(dir: string): [string, string][] {
  const web = mails.slice(0, 30);
  const books = mails.slice(30, 60);
  books[2] = `  ${web[5].toUpperCase().replace(/\s+/g, "\n\n")} `;
  books[4] = editWords(web[1], 0.01, mulberry32(4), ["lorem", "ipsum"]);
  return [
    ["web", writeJsonl(path.join(dir, "web.jsonl"), web)],
    ["books", writeJsonl(path.join(dir, "books.jsonl"), books)],
  ];
}

describe("dedup across domains", () => {
  test("an exact duplicate across domains is dropped from the later domain; swapping the domains swaps which is kept", async () => {
    const dir = tempDir();
    const domains = twoDomains(dir);
    for (const order of [domains, [domains[1], domains[0]]]) {
      const loaded = config(dir, order);
      const sources = await open(loaded);
      const r = await loadOrComputeDedup(loaded, sources, path.join(dir, "cache"));
      close(sources);
      expect(r).not.toBeNull();
      const [first, second] = r!.domains;
      expect(first.dropped.length).toBe(0);
      const ids = order[0][0] === "web" ? [2, 4] : [1, 5];
      const reps = order[0][0] === "web" ? [5, 1] : [4, 2];
      expect(Array.from(second.dropped)).toEqual(ids);
      expect(Array.from(second.repDomain)).toEqual([0, 0]);
      expect(Array.from(second.repId)).toEqual(reps);
      expect(Array.from(second.reason)).toEqual(order[0][0] === "web" ? [1, 2] : [2, 1]);
      expect([second.exact, second.near]).toEqual([1, 1]);
      expect(r!.matrix.exact).toEqual([
        [0, 0],
        [1, 0],
      ]);
      expect(r!.matrix.near).toEqual([
        [0, 0],
        [1, 0],
      ]);
    }
  });

  test("Megatron token documents: exact and near duplicates over token-id shingles", async () => {
    const dir = tempDir();
    const rng = mulberry32(11);
    const docs = Array.from({ length: 40 }, () => Int32Array.from({ length: 300 }, () => Math.floor(rng() * 5000)));
    const near = Int32Array.from(docs[7]);
    near[150] = 4999; // one id changed: 5 of ~296 shingles differ, Jaccard ≈ 0.97
    const files: [string, Int32Array[]][] = [
      ["a", docs.slice(0, 20)],
      ["b", [...docs.slice(20), docs[3], near]],
    ];
    for (const [name, list] of files) {
      const w = new MegatronWriter(path.join(dir, name), { vocabSize: 5000 });
      for (const d of list) w.add(d);
      w.finish();
    }
    const loaded = parseConfig(
      { tokenizer, dedup: {}, domains: files.map(([name]) => ({ name, sources: [{ type: "megatron", path: path.join(dir, name) }] })) },
      dir,
    );
    const sources = await open(loaded);
    const r = await loadOrComputeDedup(loaded, sources, path.join(dir, "cache"));
    close(sources);
    expect(Array.from(r!.domains[1].dropped)).toEqual([20, 21]);
    expect(Array.from(r!.domains[1].repId)).toEqual([3, 7]);
    expect(Array.from(r!.domains[1].reason)).toEqual([1, 2]);
  });

  test("bad documents: on_error fail names file and line; skip counts them", async () => {
    const dir = tempDir();
    const file = path.join(dir, "bad.jsonl");
    fs.writeFileSync(file, `${JSON.stringify({ text: mails[0] })}\n{not json\n${JSON.stringify({ text: mails[0] })}\n`);
    for (const onError of ["fail", "skip"] as const) {
      const loaded = config(dir, [["d", file]], {}, { on_error: onError });
      const sources = await open(loaded);
      const run = loadOrComputeDedup(loaded, sources, path.join(dir, `cache-${onError}`));
      if (onError === "fail") await expect(run).rejects.toThrow(`${file}:2: malformed_json`);
      else {
        const r = await run;
        expect(r!.domains[0].skipped).toEqual({ malformed_json: 1 });
        expect(Array.from(r!.domains[0].dropped)).toEqual([2]);
      }
      close(sources);
    }
  });
});

describe("dedup sidecar", () => {
  test("same data and parameters give the same bytes; the loader reads it back; the cache is used on the next open", async () => {
    const dir = tempDir();
    const loaded = config(dir, twoDomains(dir));
    const sources = await open(loaded);
    const settings = loaded.config.dedup!;
    const key = sidecarKey(loaded.config, settings, sources);
    const files = [path.join(dir, "one.bin"), path.join(dir, "two.bin")];
    for (const f of files) writeSidecar(f, key, await computeDedup(loaded.config, settings, sources));
    expect(fs.readFileSync(files[0]).equals(fs.readFileSync(files[1]))).toBe(true);

    const cache = path.join(dir, "cache");
    const first = await loadOrComputeDedup(loaded, sources, cache);
    const cached = cachedSidecar(key, cache);
    expect(fs.existsSync(cached)).toBe(true);
    const mtime = fs.statSync(cached).mtimeMs;
    const again = await loadOrComputeDedup(loaded, sources, cache);
    expect(fs.statSync(cached).mtimeMs).toBe(mtime);
    expect(again!.stats.seconds).toBe(0); // read from the file, not computed
    expect(again!.domains.map((d) => Array.from(d.dropped))).toEqual(first!.domains.map((d) => Array.from(d.dropped)));
    expect(again!.matrix).toEqual(first!.matrix);
    close(sources);
  });

  test("a sidecar from changed data or other parameters is refused in one line naming the file", async () => {
    const dir = tempDir();
    const domains = twoDomains(dir);
    const sidecar = path.join(dir, "dedup", "dedup.bin");
    const loaded = config(dir, domains, { sidecar: "dedup/dedup.bin" });
    let sources = await open(loaded);
    fs.mkdirSync(path.dirname(sidecar));
    writeSidecar(sidecar, sidecarKey(loaded.config, loaded.config.dedup!, sources), await computeDedup(loaded.config, loaded.config.dedup!, sources));
    expect((await loadOrComputeDedup(loaded, sources, path.join(dir, "cache")))!.domains[1].dropped.length).toBe(2);
    close(sources);

    const other = config(dir, domains, { sidecar: "dedup/dedup.bin", near: { threshold: 0.9 } });
    sources = await open(other);
    await expect(loadOrComputeDedup(other, sources, path.join(dir, "cache"))).rejects.toThrow(
      /^config dedup\.sidecar: .*dedup\.bin: computed from other data: dedup\.near\.threshold 0\.8 → 0\.9/,
    );
    close(sources);

    fs.appendFileSync(domains[1][1], `${JSON.stringify({ text: "one more document" })}\n`);
    sources = await open(loaded);
    const refused = loadOrComputeDedup(loaded, sources, path.join(dir, "cache"));
    await expect(refused).rejects.toThrow(`${domains[1][1]} changed: size`);
    await expect(refused).rejects.toThrow(/^[^\n]*$/);
    close(sources);

    fs.writeFileSync(sidecar, "MXLDEDUP garbage");
    sources = await open(loaded);
    await expect(loadOrComputeDedup(loaded, sources, path.join(dir, "cache"))).rejects.toThrow(`config dedup.sidecar: ${sidecar}:`);
    close(sources);
  });

  test("config errors name the field", () => {
    const dir = tempDir();
    expect(() => config(dir, [["d", "x.jsonl"]], { near: { num_perm: 128, bands: 30 } })).toThrow(/dedup\.near\.bands: must divide num_perm \(128\)/);
    expect(() => config(dir, [["d", "x.jsonl"]], { near: { threshold: 1.5 } })).toThrow(/dedup\.near\.threshold/);
    expect(() => config(dir, [["d", "x.jsonl"]], { exact: "yes" })).toThrow(/dedup\.exact/);
    expect(config(dir, [["d", "x.jsonl"]], { near: false }).config.dedup!.near).toBe(false);
  });
});
