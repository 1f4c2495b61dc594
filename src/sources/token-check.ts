/**
 * Checks every pre-tokenized document gets as it is read (Megatron, nanoGPT), so a bad document
 * becomes a BadDocument the domain reader counts or fails on, never a silent drop or a wild id.
 *
 * Why: an int32 `.bin` written for another tokenizer served id 2,146,540,081 under a 4,098-token
 * vocabulary (an embedding lookup far out of range on the GPU), and empty documents — which
 * Megatron's preprocess_data.py writes for empty texts — vanished without being counted.
 */
import type { BadDocument } from "./types.js";

/**
 * Index of the first id outside [0, vocabSize), or -1. One compare per token: `>>> 0` turns a
 * negative id into one ≥ 2^31, past any vocabulary, so no second compare and no allocation.
 */
export function firstOutOfRange(tokens: Int32Array, vocabSize: number): number {
  for (let i = 0; i < tokens.length; i++) if (tokens[i] >>> 0 >= vocabSize) return i;
  return -1;
}

/** The BadDocument for document `d` of `file`, or undefined when it is usable. */
export function checkTokens(tokens: Int32Array, vocabSize: number | undefined, file: string, d: number): BadDocument | undefined {
  if (vocabSize === undefined) return undefined;
  const i = firstOutOfRange(tokens, vocabSize);
  if (i === -1) return undefined;
  const detail = `document ${d}: token id ${tokens[i]} at position ${i} is outside the tokenizer's vocabulary [0, ${vocabSize})`;
  return { kind: "bad", reason: "token_out_of_range", file, detail };
}

export function emptyDocument(file: string, d: number, why: string): BadDocument {
  return { kind: "bad", reason: "empty_document", file, detail: `document ${d} ${why}` };
}
