/**
 * Every document of a domain, tokenized, in id order: what `mixload score` reads. Blocks of
 * documents go through the tokenizer pool together; pre-tokenized sources pass their ids through.
 * A bad document reaches the callback as null (its score is NaN) under `on_error: skip`, and
 * stops the command with its file:line under `fail`.
 */
import { badDocumentError, readDocuments, type DocumentSource } from "../sources/types.js";
import type { TokenizerPool } from "../tokenize/pool.js";

const BLOCK = 512;

export async function forEachTokenized(
  sources: readonly DocumentSource[],
  pool: TokenizerPool,
  onError: "fail" | "skip",
  visit: (id: number, tokens: Int32Array | null) => void,
): Promise<void> {
  let base = 0;
  for (const source of sources) {
    for (let from = 0; from < source.numDocuments; from += BLOCK) {
      const indices = Array.from({ length: Math.min(BLOCK, source.numDocuments - from) }, (_, k) => from + k);
      const raws = await readDocuments(source, indices);
      const texts: string[] = [];
      for (const r of raws) {
        if (r.kind === "bad" && onError === "fail") throw badDocumentError(r);
        if (r.kind === "text") texts.push(r.text);
      }
      const encoded = texts.length > 0 ? await pool.encode(texts) : [];
      let t = 0;
      raws.forEach((r, k) => visit(base + indices[k], r.kind === "bad" ? null : r.kind === "tokens" ? r.tokens : encoded[t++]));
    }
    base += source.numDocuments;
  }
}
