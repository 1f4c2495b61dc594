/**
 * Turn Brown-corpus tagged text (`The/at jury/nn said/vbd ./.`) back into plain prose.
 *
 * Each whitespace-separated token is `word/tag`. Words may contain `/` themselves
 * (`and/or/cc`, `1/2/cd`, `//in`), so only the LAST `/tag` is removed. Tags are lower-case
 * letters plus `- $ * + . , : ' ` ( )` (`np$`, `nn-tl`, `ppss+md`, `md*`, `--`).
 * The corpus writes quotes as the tokens `` `` `` (open) and `''` (close); they become `"`
 * attached to the quoted words, and punctuation attaches to the word before it, so the
 * tokenizer sees ordinary text rather than Brown's tokenisation.
 */

const TAG = /^[a-z0-9$*+\-.,:;'`()]+$/;

/** Tokens glued to the previous word. */
const ATTACH_LEFT = new Set([".", ",", ";", ":", "?", "!", ")", "]", "''", "'"]);
/** Tokens the next word is glued to. */
const ATTACH_RIGHT = new Set(["``", "`", "(", "["]);
const QUOTES = new Map([
  ["``", '"'],
  ["''", '"'],
  ["`", "'"],
]);

/** The word of one `word/tag` token; tokens without a recognisable tag are kept whole. */
export function untag(token: string): string {
  const slash = token.lastIndexOf("/");
  if (slash <= 0 || !TAG.test(token.slice(slash + 1))) return token;
  return token.slice(0, slash);
}

/** Strip the tags of a tagged paragraph and normalise its whitespace to single spaces. */
export function stripBrownTags(tagged: string): string {
  let out = "";
  let glueNext = true; // nothing before the first word
  for (const token of tagged.split(/\s+/)) {
    if (token === "") continue;
    const word = untag(token);
    if (!glueNext && !ATTACH_LEFT.has(word)) out += " ";
    out += QUOTES.get(word) ?? word;
    glueNext = ATTACH_RIGHT.has(word);
  }
  return out;
}
