/**
 * Perplexity scores, the CCNet recipe (Wenzek et al. 2020, §3.3): train a language model on a
 * reference domain of high-quality text (Wikipedia there), then score every document by its
 * perplexity under it; low perplexity = close to the reference. CCNet uses a 5-gram KenLM over
 * SentencePiece tokens; here the gym's interpolated Kneser–Ney trigram (gym/ngram.ts) over the
 * run's tokenizer, which is the same family of model one order lower.
 *
 *   ppl(d) = exp( −(1 / (n − 1)) Σ_{t=1}^{n−1} ln P(d_t | d_{t−2}, d_{t−1}) )
 *
 * (the first token is context only, as when the gym scores a row). The reference domain's own
 * documents are scored by a model that saw them, so they come out low: CCNet trains on a split
 * it does not filter; give `--reference` a domain you do not select from, or read its scores so.
 */
import { IGNORE_INDEX } from "../batch/assemble.js";
import { KneserNeyTrigram } from "../gym/ngram.js";

/** Train on one document: the batch arrays of a single row holding exactly it. */
export function trainOnDocument(model: KneserNeyTrigram, doc: Int32Array): void {
  const n = doc.length;
  const targets = new Int32Array(n);
  for (let t = 0; t < n; t++) targets[t] = t + 1 < n ? doc[t + 1] : IGNORE_INDEX;
  const positions = Int32Array.from({ length: n }, (_, t) => t);
  model.trainBatch({ input_ids: doc, targets, position_ids: positions });
}

/** The document's perplexity under the model (NaN for a document of fewer than two tokens). */
export function perplexity(model: KneserNeyTrigram, doc: Int32Array): number {
  const { lossSum, tokens } = model.evaluate([doc], Math.max(1, doc.length));
  return tokens === 0 ? NaN : Math.exp(lossSum / tokens);
}
