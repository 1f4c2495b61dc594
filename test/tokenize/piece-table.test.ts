/**
 * The piece table (src/tokenize/piece-table.ts): what one thread stores, any thread
 * reads back exactly; a full table stops storing but never answers wrongly; threads writing and
 * reading at once see every entry complete or not at all; and encoders sharing a table give the
 * plain library's ids while running the model once per distinct piece between them.
 */
import fs from "node:fs";
import path from "node:path";
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Tokenizer } from "@huggingface/tokenizers";
import { CachedEncoder } from "../../src/tokenize/cached-encoder.js";
import { pieceHash, PieceTable } from "../../src/tokenize/piece-table.js";
import { brownTexts, codeTexts, lenmlFiles, spamTexts, type LenmlName } from "../../bench/tokenize-corpus.js";
import { ROOT } from "../helpers/fixtures.js";

/** A value that depends on the whole key and has a key-dependent length, so a torn entry would show. */
function valueOf(piece: string, cacheIndex: number): number | Int32Array {
  const ids = Int32Array.from(piece, (c, i) => (c.codePointAt(0) as number) * 31 + i + cacheIndex);
  return ids.length === 1 ? ids[0] : ids;
}

/** Store `piece`'s valueOf, as the encoder stores a model's ids. */
function store(table: PieceTable, piece: string, cacheIndex: number): void {
  const v = valueOf(piece, cacheIndex);
  table.set(piece, 0, piece.length, cacheIndex, pieceHash(piece, cacheIndex), typeof v === "number" ? [v] : v);
}

const plain = (v: number | Int32Array | undefined) => (v === undefined || typeof v === "number" ? v : Array.from(v));

describe("PieceTable", () => {
  const key = fc.tuple(fc.string({ unit: "binary", maxLength: 12 }), fc.integer({ min: 0, max: 1 }));

  it("gives back what was stored, and nothing for keys never stored, through hash collisions", () => {
    fc.assert(
      fc.property(fc.uniqueArray(key, { selector: ([s, c]) => `${c}${s}`, maxLength: 60 }), fc.array(key, { maxLength: 20 }), (stored, probes) => {
        const table = new PieceTable(PieceTable.allocate({ slots: 128, arenaBytes: 1 << 16 }));
        for (const [s, c] of stored) store(table, s, c);
        // Storing again (another worker that also missed) keeps one entry and its value.
        for (const [s, c] of stored) store(table, s, c);
        expect(table.size).toBe(stored.length);
        for (const [s, c] of stored) expect(plain(table.get(s, c, pieceHash(s, c)))).toEqual(plain(valueOf(s, c)));
        const has = new Set(stored.map(([s, c]) => `${c}${s}`));
        for (const [s, c] of probes) if (!has.has(`${c}${s}`)) expect(table.get(s, c, pieceHash(s, c))).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });

  it("a colliding hash alone is not a match: the key is compared", () => {
    const table = new PieceTable(PieceTable.allocate({ slots: 16, arenaBytes: 1024 }));
    table.set("abc", 0, 3, 0, 7, [42]);
    expect(table.get("abc", 0, 7)).toBe(42);
    expect(table.get("abd", 0, 7)).toBeUndefined();
    expect(table.get("abc", 1, 7)).toBeUndefined();
    expect(table.get("ab", 0, 7)).toBeUndefined();
  });

  it("a piece is found as a range of any text holding it, and its hash is the range's", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "binary" }),
        fc.string({ unit: "binary", minLength: 1, maxLength: 12 }),
        fc.string({ unit: "binary" }),
        fc.integer({ min: 0, max: 1 }),
        (before, piece, after, c) => {
          const table = new PieceTable(PieceTable.allocate({ slots: 64, arenaBytes: 1 << 12 }));
          const text = before + piece + after;
          const [start, end] = [before.length, before.length + piece.length];
          expect(pieceHash(text, c, start, end)).toBe(pieceHash(piece, c));
          table.set(text, start, end, c, pieceHash(piece, c), [7, 8], 5);
          const entry = table.find(piece, 0, piece.length, c, pieceHash(piece, c));
          expect(entry).not.toBe(0);
          expect(table.writerOf(entry)).toBe(5);
          expect(Array.from(table.words.subarray(table.firstId(entry), table.firstId(entry) + table.idCount(entry)))).toEqual([7, 8]);
          expect(table.find(text, start, end, c, pieceHash(piece, c))).toBe(entry);
          if (after.length > 0) expect(table.find(text, start, end + 1, c, pieceHash(text, c, start, end + 1))).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("stops storing when half the slots or the arena are used, and still answers right", () => {
    const bySlots = new PieceTable(PieceTable.allocate({ slots: 16, arenaBytes: 1 << 16 }));
    const byArena = new PieceTable(PieceTable.allocate({ slots: 1024, arenaBytes: 200 }));
    const words = Array.from({ length: 40 }, (_, i) => `word${i}`);
    for (const table of [bySlots, byArena]) {
      for (const w of words) store(table, w, 0);
      const found = words.filter((w) => table.get(w, 0, pieceHash(w, 0)) !== undefined);
      expect(found.length).toBeGreaterThan(0);
      expect(found.length).toBeLessThan(words.length);
      for (const w of found) expect(plain(table.get(w, 0, pieceHash(w, 0)))).toEqual(plain(valueOf(w, 0)));
    }
    expect(bySlots.size).toBe(8);
  });

  it("rejects a slot count that is not a power of two", () => {
    expect(() => PieceTable.allocate({ slots: 100 })).toThrow(/power of two/);
  });

  it("threads writing and reading at once: every entry found is complete and right", async () => {
    // Three threads store overlapping keys (each key by two of them) and re-read all keys while
    // the others write; a small table also makes them fill it and race on the last slots.
    const module = path.join(ROOT, "dist/src/tokenize/piece-table.js");
    if (!fs.existsSync(module)) throw new Error(`${module} is missing: run npm run build first`);
    const buffer = PieceTable.allocate({ slots: 4096, arenaBytes: 1 << 16 });
    const code = `
      const { workerData, parentPort } = require("node:worker_threads");
      import(${JSON.stringify(module)}).then(({ PieceTable, pieceHash }) => {
        const { buffer, thread, keys } = workerData;
        const table = new PieceTable(buffer);
        const valueOf = ${valueOf.toString()};
        const same = (a, b) => typeof a === "number" ? a === b : typeof b !== "number" && a.length === b.length && a.every((x, i) => x === b[i]);
        let wrong = 0;
        let found = 0;
        for (let round = 0; round < 20; round++) {
          for (let k = thread; k < keys.length; k += 3) for (const j of [k, k + 1]) if (j < keys.length) { const v = valueOf(keys[j], j % 2); table.set(keys[j], 0, keys[j].length, j % 2, pieceHash(keys[j], j % 2), typeof v === "number" ? [v] : v, thread); }
          for (let j = 0; j < keys.length; j++) {
            const v = table.get(keys[j], j % 2, pieceHash(keys[j], j % 2));
            if (v !== undefined) { found++; if (!same(v, valueOf(keys[j], j % 2))) wrong++; }
          }
        }
        parentPort.postMessage({ wrong, found });
      });`;
    const keys = Array.from({ length: 3000 }, (_, i) => `k${i}:${"é€𝄞x".repeat(i % 7)}`);
    const results = await Promise.all(
      [0, 1, 2].map(
        (thread) =>
          new Promise<{ wrong: number; found: number }>((resolve, reject) => {
            const worker = new Worker(code, { eval: true, workerData: { buffer, thread, keys } });
            worker.once("message", resolve);
            worker.once("error", reject);
          }),
      ),
    );
    for (const r of results) {
      expect(r.wrong).toBe(0);
      expect(r.found).toBeGreaterThan(0);
    }
    const table = new PieceTable(buffer);
    let stored = 0;
    for (let j = 0; j < keys.length; j++) {
      const v = table.get(keys[j], j % 2, pieceHash(keys[j], j % 2));
      if (v !== undefined) {
        stored++;
        expect(plain(v)).toEqual(plain(valueOf(keys[j], j % 2)));
      }
    }
    expect(stored).toBeGreaterThan(0);
    expect(stored).toBe(table.size); // no key published twice
  });
});

/** Encoders of one tokenizer sharing a table, as a pool's workers do. */
function sharingEncoders(tokenizer: Tokenizer, buffer = PieceTable.allocate()): [CachedEncoder, CachedEncoder] {
  const make = () => CachedEncoder.create(tokenizer, { table: new PieceTable(buffer) });
  const [a, b] = [make(), make()];
  if (typeof a === "string" || typeof b === "string") throw new Error(`no cache: ${String(a)}`);
  return [a, b];
}

function plainIds(tokenizer: Tokenizer, text: string): number[] {
  return Array.from(Int32Array.from(tokenizer.encode(text, { add_special_tokens: false }).ids as number[]));
}

function library(name: LenmlName): Tokenizer {
  const files = lenmlFiles(name);
  return new Tokenizer(JSON.parse(fs.readFileSync(files.path, "utf8")), JSON.parse(fs.readFileSync(files.configPath, "utf8")));
}

describe("CachedEncoders sharing a table", () => {
  // llama3: byte-level after a split; llama2: SentencePiece cuts, byte fallback, fuse_unk; claude: a lone ByteLevel step, NFKC.
  for (const name of ["llama3", "llama2", "claude"] as const) {
    it(`${name}: the plain library's ids, and the second encoder runs the model only for what the first could not store`, async () => {
      const tokenizer = library(name);
      const texts = [...(await brownTexts("ca0[1-2]")), ...spamTexts(401), ...codeTexts().filter((_, i) => i % 100 === 0)];
      const [first, second] = sharingEncoders(tokenizer);
      const a = first.encodeBatch(texts);
      const b = second.encodeBatch(texts);
      expect(Array.from(b.ids)).toEqual(Array.from(a.ids));
      for (let i = 0; i < texts.length; i += 7) {
        expect(Array.from(a.ids.subarray(i === 0 ? 0 : a.ends[i - 1], a.ends[i])), texts[i].slice(0, 100)).toEqual(plainIds(tokenizer, texts[i]));
      }
      // Every piece the first stored is a hit for the second, on the first's entries; what remains
      // are pieces too long to store, which both run through the model each time: as many as the
      // first runs on a second pass of its own.
      expect(first.sharedHits).toBe(0);
      expect(second.hits).toBe(0);
      expect(second.sharedHits).toBeGreaterThan(1000);
      const firstMisses = first.misses;
      first.encodeBatch(texts);
      expect(second.misses).toBe(first.misses - firstMisses);
      expect(second.misses).toBeLessThan(firstMisses / 10);
    }, 60_000);
  }

  it("a Metaspace after the split (two caches, keyed by section): the same ids, interleaved", () => {
    const json = JSON.parse(fs.readFileSync(lenmlFiles("llama3").path, "utf8")) as Record<string, unknown>;
    const tokenizer = new Tokenizer(
      {
        ...json,
        pre_tokenizer: {
          type: "Sequence",
          pretokenizers: [
            { type: "Split", pattern: { Regex: "\\s+" }, behavior: "Isolated", invert: false },
            { type: "Metaspace", replacement: "Ġ", prepend_scheme: "first", split: false },
          ],
        },
      },
      JSON.parse(fs.readFileSync(lenmlFiles("llama3").configPath, "utf8")),
    );
    const [first, second] = sharingEncoders(tokenizer);
    const text = fc
      .array(fc.oneof(fc.constantFrom(" ", "  ", "\n", "<|end_of_text|>", "the", "The", "a"), fc.string({ unit: "grapheme", maxLength: 5 })), { maxLength: 30 })
      .map((p) => p.join(""));
    fc.assert(
      fc.property(text, fc.boolean(), (s, which) => {
        expect(Array.from((which ? first : second).encode(s))).toEqual(plainIds(tokenizer, s));
      }),
      { numRuns: 400 },
    );
    expect(first.sharedHits + second.sharedHits).toBeGreaterThan(0);
  });
});
