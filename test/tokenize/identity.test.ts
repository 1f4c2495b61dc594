/**
 * Identity is the contract: for every @lenml tokenizer, mixload's ids (loadTokenizer, the cached
 * encoder wherever it accepts the tokenizer) equal the plain library's, on real text (Brown,
 * Spam Assassin mails, source code) and on arbitrary Unicode mixed with the tokenizer's own added
 * tokens, also in compatibility forms a normalizer may fold into them (fullwidth, mathematical
 * bold, NFD). Regression: NFKC turned fullwidth "＜ＥＯＴ＞" into claude's added token "<EOT>".
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { loadTokenizer } from "../../src/tokenize/tokenizer.js";
import { brownTexts, codeTexts, LENML_TOKENIZERS, lenmlFiles, spamTexts, type LenmlName } from "../../bench/tokenize-corpus.js";
import fs from "node:fs";

/** Fullwidth forms of ASCII (U+FF01..FF5E) and the ideographic space; NFKC maps them back. */
const fullwidth = (s: string) => s.replace(/[\x21-\x7e]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0)).replace(/ /g, "\u3000");
/** Mathematical bold letters and digits (U+1D400.., U+1D7CE..); NFKC maps them to ASCII. */
const mathBold = (s: string) =>
  s.replace(/[A-Za-z0-9]/g, (c) => {
    const x = c.charCodeAt(0);
    return String.fromCodePoint(x <= 0x39 ? 0x1d7ce + x - 0x30 : x <= 0x5a ? 0x1d400 + x - 0x41 : 0x1d41a + x - 0x61);
  });
const forms: ((s: string, mask: boolean[]) => string)[] = [
  (s) => s,
  (s) => fullwidth(s),
  (s) => mathBold(s),
  (s) => s.normalize("NFD"),
  (s) => s.normalize("NFKD"),
  // Some characters converted, some not: "＜EOT>" is as much an added token under NFKC as "＜ＥＯＴ＞".
  (s, mask) => Array.from(s, (c, i) => (mask[i % Math.max(1, mask.length)] ? fullwidth(c) : c)).join(""),
  (s, mask) => Array.from(s, (c, i) => (mask[i % Math.max(1, mask.length)] ? mathBold(c) : c)).join(""),
];

function addedContents(name: LenmlName): string[] {
  const json = JSON.parse(fs.readFileSync(lenmlFiles(name).path, "utf8")) as { added_tokens: { content: string }[] };
  const all = json.added_tokens.map((t) => t.content);
  // gemma3 has 6,415: keep the first 64 and an even sample of the rest, so every kind appears.
  return all.length <= 200 ? all : [...all.slice(0, 64), ...all.filter((_, i) => i % Math.ceil(all.length / 136) === 0)];
}

function textArbitrary(added: string[]): fc.Arbitrary<string> {
  const addedPiece = fc
    .tuple(fc.constantFrom(...added), fc.integer({ min: 0, max: forms.length - 1 }), fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }))
    .map(([s, f, mask]) => forms[f](s, mask));
  const piece = fc.oneof(
    { arbitrary: addedPiece, weight: 4 },
    { arbitrary: fc.constantFrom(" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2581", "▁▁", "\ufeff", "\u200b"), weight: 2 },
    {
      arbitrary: fc.stringMatching(/^[A-Za-z0-9]{1,8}$/).chain((s) => fc.integer({ min: 0, max: forms.length - 1 }).map((f) => forms[f](s, [true, false]))),
      weight: 2,
    },
    { arbitrary: fc.constantFrom("é", "e\u0301", "ﬁ", "Å", "ß", "İ", "Ω", "①", "㎏", "ｶ", "\u{1f469}\u200d\u{1f4bb}", "中文", "한국어", "\u0663"), weight: 1 },
    { arbitrary: fc.string({ unit: "binary", maxLength: 4 }), weight: 1 }, // any code point, lone surrogates included
    { arbitrary: fc.string({ unit: "grapheme", maxLength: 6 }), weight: 1 },
  );
  return fc.array(piece, { maxLength: 24 }).map((parts) => parts.join(""));
}

describe("claude (NFKC normalizer): text a normalizer turns into an added token", () => {
  const files = lenmlFiles("claude");
  const mixload = loadTokenizer(files);
  const plain = loadTokenizer(files, { cache: false });
  it.each(["＜ＥＯＴ＞", "<EOT>＜ＥＯＴ＞", "＜EOT>", "<ＥＯＴ>", "＜ＳＯＳ＞", "𝐄", "a＜ＥＯＴ＞", "＜ＥＯＴ＞ ", "x<EOT>＜ＥＯＴ＞y"])("%s", (s) => {
    expect(mixload.encoder).toBe("cached");
    expect(Array.from(mixload.encode(s))).toEqual(Array.from(plain.encode(s)));
  });
  it("fullwidth <EOT> alone is the added token, then EOS", () => {
    expect(Array.from(mixload.encode("＜ＥＯＴ＞"))).toEqual([0, mixload.eosId]);
  });
});

for (const name of LENML_TOKENIZERS) {
  describe(name, () => {
    const files = lenmlFiles(name);
    const mixload = loadTokenizer(files);
    const plain = loadTokenizer(files, { cache: false });

    it("same ids as the plain library on Brown, mails and code", async () => {
      const texts = [...(await brownTexts("ca0[1-4]")), ...spamTexts(101), ...codeTexts().filter((_, i) => i % 25 === 0)];
      expect(texts.length).toBeGreaterThan(250);
      let mismatched = 0;
      const { ids, ends } = mixload.encodeBatch(texts);
      for (let i = 0; i < texts.length; i++) {
        const got = Array.from(ids.subarray(i === 0 ? 0 : ends[i - 1], ends[i]));
        const want = Array.from(plain.encode(texts[i]));
        if (got.join() !== want.join()) {
          mismatched++;
          if (mismatched === 1) expect(got, `${name}: ${JSON.stringify(texts[i].slice(0, 200))}`).toEqual(want);
        }
      }
      expect(mismatched).toBe(0);
    }, 300_000);

    it("same ids on arbitrary Unicode mixed with its added tokens in compatibility forms", () => {
      fc.assert(
        fc.property(textArbitrary(addedContents(name)), (s) => {
          expect(Array.from(mixload.encode(s))).toEqual(Array.from(plain.encode(s)));
        }),
        { numRuns: 400 },
      );
    }, 120_000);
  });
}
