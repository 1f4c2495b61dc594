/**
 * Tokenizer worker thread: loads the tokenizer once, then encodes batches of texts.
 * Replies with all ids concatenated in one transferable Int32Array plus document end
 * offsets, so a batch crosses the thread boundary as two buffers, not thousands of arrays.
 */
import { parentPort, workerData } from "node:worker_threads";
import { loadTokenizer, type TokenizerFiles } from "./tokenizer.js";

export interface EncodeRequest {
  readonly id: number;
  readonly texts: readonly string[];
}
export type EncodeReply =
  | { readonly id: number; readonly ids: Int32Array; readonly ends: Int32Array }
  | { readonly id: number; readonly error: string };

const tokenizer = loadTokenizer(workerData as TokenizerFiles);
const port = parentPort;
if (port === null) throw new Error("tokenizer worker must run in a worker thread");

port.on("message", (request: EncodeRequest) => {
  try {
    const { ids, ends } = tokenizer.encodeBatch(request.texts);
    const reply: EncodeReply = { id: request.id, ids, ends };
    port.postMessage(reply, [ids.buffer, ends.buffer]);
  } catch (e) {
    port.postMessage({ id: request.id, error: (e as Error).stack ?? String(e) } satisfies EncodeReply);
  }
});
