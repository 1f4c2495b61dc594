/**
 * What "the same text" means for deduplication.
 *
 * Exact duplicates compare `normalizeText(t)`: Unicode NFKC (compatibility forms folded:
 * full-width letters, ligatures, non-breaking spaces), lower case (locale-independent
 * `toLowerCase`), every run of whitespace (`\s`, Unicode-aware) collapsed to one space, and the
 * ends trimmed. Two documents differing only in case, spacing or line breaks are exact duplicates.
 *
 * Near duplicates compare word shingles of the same normalised text (shingles.ts), where a word is
 * a maximal run of ASCII letters and digits or of non-ASCII characters other than punctuation
 * and symbols (Latin-1 punctuation U+00A1–U+00BF, ×, ÷, General Punctuation U+2000–U+206F, CJK
 * punctuation U+3000–U+303F). ASCII punctuation separates words and is otherwise ignored, as in
 * the near-dedup normalisation of Lee et al. 2022 ("Deduplicating Training Data Makes Language
 * Models Better") and FineWeb's MinHash step.
 */

export function normalizeText(text: string): string {
  return text.normalize("NFKC").toLowerCase().replace(/\s+/g, " ").trim();
}

/** Whether UTF-16 code unit `c` of normalised text belongs to a word. */
export function isWordUnit(c: number): boolean {
  if (c < 128) return (c >= 48 && c <= 57) || (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
  if (c >= 0xa1 && c <= 0xbf) return false;
  if (c === 0xd7 || c === 0xf7) return false;
  if (c >= 0x2000 && c <= 0x206f) return false;
  if (c >= 0x3000 && c <= 0x303f) return false;
  return true;
}
