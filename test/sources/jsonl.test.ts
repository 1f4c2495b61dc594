import * as fs from "node:fs";
import * as path from "node:path";
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { openJsonl } from "../../src/sources/jsonl.js";
import { openSource, sourceSpecSchema } from "../../src/sources/index.js";
import { DataError } from "../../src/util/errors.js";
import { asSync, readAll, tempDir } from "./tmp.js";

const tmp = tempDir();

describe("jsonl source", () => {
  it("round-trips any unicode text, with blank lines and CRLF, keeping exact line numbers", async () => {
    const line = fc.oneof(
      { weight: 1, arbitrary: fc.constantFrom("", "  ", "\t").map((blank) => ({ blank })) },
      { weight: 4, arbitrary: fc.string({ unit: "grapheme" }).map((text) => ({ text })) },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(line, { maxLength: 30 }), fc.boolean(), async (lines, crlf) => {
        const file = tmp("prop.jsonl");
        const body = lines.map((l) => ("blank" in l ? l.blank : JSON.stringify({ text: l.text })));
        fs.writeFileSync(file, body.join(crlf ? "\r\n" : "\n"));
        const src = await openJsonl(file);
        try {
          const expected = lines.flatMap((l, i) => ("text" in l ? [{ text: l.text, line: i + 1 }] : []));
          expect(src.numDocuments).toBe(expected.length);
          expected.forEach((e, i) => {
            const doc = src.read(i);
            if (e.text.trim() === "") expect(doc).toMatchObject({ kind: "bad", reason: "empty_document", line: e.line });
            else expect(doc).toEqual({ kind: "text", text: e.text });
          });
        } finally {
          src.close();
        }
      }),
      { numRuns: 100 },
    );
  });

  it("reports each kind of bad line with its 1-based line number", async () => {
    const file = tmp("bad.jsonl");
    const lines: (string | Buffer)[] = [
      '{"text": "fine"}', //                 1
      '{"text": "unterminated', //          2 malformed_json
      "", //                                 3 blank: not a document
      '{"body": "x"}', //                    4 missing_field
      '{"text": 5}', //                      5 not_a_string
      '{"text": "  \\n "}', //              6 empty_document
      Buffer.from([0x7b, 0x22, 0x74, 0x65, 0x78, 0x74, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]), // 7 invalid_utf8
      "[1, 2]", //                           8 not an object
      '{"text": null}', //                   9 not_a_string
      '{"text": "last, no newline"}', //   10
    ];
    fs.writeFileSync(file, Buffer.concat(lines.flatMap((l, i) => [Buffer.from(l), Buffer.from(i < lines.length - 1 ? "\n" : "")])));
    const src = await openJsonl(file);
    const got = readAll(src).map((d) => (d.kind === "bad" ? `${d.line}:${d.reason}` : d.kind === "text" ? d.text : "?"));
    expect(got).toEqual([
      "fine",
      "2:malformed_json",
      "4:missing_field",
      "5:not_a_string",
      "6:empty_document",
      "7:invalid_utf8",
      "8:missing_field",
      "9:not_a_string",
      "last, no newline",
    ]);
    const bad = src.read(5);
    expect(bad).toMatchObject({ file, detail: expect.stringContaining("byte offset 9") });
    src.close();
  });

  it("reads a configured field, nested by dotted path, literal dotted keys first", async () => {
    const file = tmp("field.jsonl");
    fs.writeFileSync(file, ['{"meta": {"body": "nested"}}', '{"meta.body": "literal", "meta": {"body": "no"}}', '{"meta": "flat"}'].join("\n"));
    const src = await openJsonl(file, { field: "meta.body" });
    expect(readAll(asSync(src))).toEqual([
      { kind: "text", text: "nested" },
      { kind: "text", text: "literal" },
      expect.objectContaining({ kind: "bad", reason: "missing_field", line: 3 }),
    ]);
    src.close();
  });

  it("indexes many lines that straddle chunk boundaries", async () => {
    const file = tmp("many.jsonl");
    const texts = Array.from({ length: 80_000 }, (_, i) => `document ${i} ${"é".repeat(i % 97)}`);
    fs.writeFileSync(file, texts.map((text) => JSON.stringify({ text })).join("\n") + "\n");
    expect(fs.statSync(file).size).toBeGreaterThan(2 * 4 * 1024 * 1024);
    const src = await openJsonl(file);
    expect(src.numDocuments).toBe(texts.length);
    for (const i of [0, 1, 12_345, 40_000, 79_999]) expect(src.read(i)).toEqual({ kind: "text", text: texts[i] });
    src.close();
  });

  it("reads a 50 MB single-line document", async () => {
    const file = tmp("big.jsonl");
    const text = "x".repeat(25_000_000) + "ü".repeat(12_500_000) + "end";
    fs.writeFileSync(file, `{"text": "short"}\n${JSON.stringify({ id: 7, text })}\n{"text": "after"}\n`);
    expect(fs.statSync(file).size).toBeGreaterThan(50_000_000);
    const src = await openJsonl(file);
    expect(src.numDocuments).toBe(3);
    const doc = src.read(1);
    expect(doc.kind).toBe("text");
    if (doc.kind === "text") expect(doc.text === text).toBe(true);
    expect(src.read(2)).toEqual({ kind: "text", text: "after" });
    src.close();
  });

  it("attaches named fields as scalar metadata: dotted paths, missing fields null, objects and arrays bad", async () => {
    const file = tmp("meta.jsonl");
    fs.writeFileSync(
      file,
      [
        '{"text": "a", "url": "http://x", "score": 0.5, "meta": {"lang": "en", "ok": true}}',
        '{"text": "b", "url": null, "meta": {"lang": "fr"}}', // no score, no meta.ok
        '{"text": "c", "url": "u", "score": 1, "meta": {"lang": ["en", "fr"]}}',
        '{"text": "d", "url": {"host": "x"}}',
        '{"text": "", "url": {"host": "x"}}', // the text is checked first
      ].join("\n"),
    );
    const src = await openJsonl(file, { metadata: ["url", "score", "meta.lang", "meta.ok"] });
    expect(readAll(src)).toEqual([
      { kind: "text", text: "a", metadata: { url: "http://x", score: 0.5, "meta.lang": "en", "meta.ok": true } },
      { kind: "text", text: "b", metadata: { url: null, score: null, "meta.lang": "fr", "meta.ok": null } },
      { kind: "bad", reason: "bad_metadata", file, line: 3, detail: 'metadata field "meta.lang" is an array, not a string, number, boolean or null' },
      { kind: "bad", reason: "bad_metadata", file, line: 4, detail: 'metadata field "url" is an object, not a string, number, boolean or null' },
      expect.objectContaining({ reason: "empty_document", line: 5 }),
    ]);
    expect(src.info).toEqual({
      format: "jsonl",
      files: 1,
      remote: false,
      bytes: fs.statSync(file).size,
      columns: ["text", "url", "score", "meta"],
      metadata: ["url", "score", "meta.lang", "meta.ok"],
    });
    src.close();
  });

  it("has no metadata property at all when no metadata fields are named", async () => {
    const file = tmp("nometa.jsonl");
    fs.writeFileSync(file, '{"text": "a", "url": "u"}\n');
    const src = await openJsonl(file);
    const doc = src.read(0);
    expect(Object.keys(doc)).toEqual(["kind", "text"]);
    expect(src.info).toMatchObject({ columns: ["text", "url"], metadata: [] });
    src.close();
  });

  it("names its file's size and mtime as identity, and sees an edit", async () => {
    const file = tmp("id.jsonl");
    fs.writeFileSync(file, '{"text": "a"}\n');
    fs.utimesSync(file, 1_700_000_000, 1_700_000_000);
    const src = await openJsonl(file);
    expect(src.identity).toBe("size=14;mtime=1700000000000");
    src.close();
    fs.appendFileSync(file, '{"text": "b"}\n');
    const again = await openJsonl(file);
    expect(again.identity).not.toBe(src.identity);
    again.close();
  });

  it("throws unreadable_file for a missing file", async () => {
    const err = await openJsonl(tmp("missing.jsonl")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataError);
    expect(err).toMatchObject({ reason: "unreadable_file" });
  });
});

describe("jsonl.gz via openSource", () => {
  const spec = (p: string) => sourceSpecSchema.parse({ type: "jsonl", path: p });

  it("decompresses once into the cache and names the .gz in errors", async () => {
    const dir = tmp("gz");
    const cacheDir = path.join(dir, "cache");
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, "a.jsonl.gz"), gzipSync('{"text": "one"}\n\n{"text": 2}\n{"text": "three"}\n'));
    const src = await openSource(spec("a.jsonl.gz"), { baseDir: dir, cacheDir });
    expect(readAll(asSync(src))).toEqual([
      { kind: "text", text: "one" },
      { kind: "bad", reason: "not_a_string", file: path.join(dir, "a.jsonl.gz"), line: 3, detail: expect.any(String) },
      { kind: "text", text: "three" },
    ]);
    src.close();

    const cached = fs.readdirSync(cacheDir);
    expect(cached).toHaveLength(1);
    expect(cached[0]).toMatch(/^[0-9a-f]{64}\.jsonl$/);
    const mtime = fs.statSync(path.join(cacheDir, cached[0])).mtimeMs;
    const again = await openSource(spec("a.jsonl.gz"), { baseDir: dir, cacheDir });
    expect(again.numDocuments).toBe(3);
    again.close();
    expect(fs.readdirSync(cacheDir)).toEqual(cached);
    expect(fs.statSync(path.join(cacheDir, cached[0])).mtimeMs).toBe(mtime);
  });

  it("takes metadata from the spec, and info and identity from the .gz itself", async () => {
    const dir = tmp("gzmeta");
    fs.mkdirSync(dir);
    const gz = path.join(dir, "m.jsonl.gz");
    fs.writeFileSync(gz, gzipSync('{"text": "one", "src": "web"}\n'));
    const src = asSync(
      await openSource(sourceSpecSchema.parse({ type: "jsonl", path: "m.jsonl.gz", metadata: ["src"] }), { baseDir: dir, cacheDir: path.join(dir, "c") }),
    );
    expect(src.read(0)).toEqual({ kind: "text", text: "one", metadata: { src: "web" } });
    const st = fs.statSync(gz);
    expect(src.info).toMatchObject({ format: "jsonl.gz", bytes: st.size, columns: ["text", "src"], metadata: ["src"] });
    expect(src.identity).toBe(`size=${st.size};mtime=${Math.floor(st.mtimeMs)}`);
    src.close();
  });

  it("rejects a corrupt .gz as bad_format without leaving temp files", async () => {
    const dir = tmp("badgz");
    const cacheDir = path.join(dir, "cache");
    fs.mkdirSync(dir);
    const gz = gzipSync('{"text": "one"}\n'.repeat(1000));
    fs.writeFileSync(path.join(dir, "t.jsonl.gz"), gz.subarray(0, gz.length - 20));
    const err = await openSource(spec("t.jsonl.gz"), { baseDir: dir, cacheDir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataError);
    expect(err).toMatchObject({ reason: "bad_format", file: path.join(dir, "t.jsonl.gz") });
    expect(fs.readdirSync(cacheDir)).toEqual([]);
  });
});
