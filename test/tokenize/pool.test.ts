/** The pool's workers use the cache too: any worker count gives the plain library's ids, in request order; two workers share encoded pieces. */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { TokenizerPool } from "../../src/tokenize/pool.js";
import { loadTokenizer } from "../../src/tokenize/tokenizer.js";
import { brownParagraphs, LLAMA3 } from "../helpers/fixtures.js";

const files = { path: path.join(LLAMA3, "tokenizer.json"), configPath: path.join(LLAMA3, "tokenizer_config.json") };

describe("TokenizerPool", () => {
  it("gives the plain library's ids (EOS appended) with 0, 1 and 2 workers, batches in order", async () => {
    const texts = await brownParagraphs("c[ab]0[1-9]");
    texts.push("", "<|end_of_text|>", "tab\tand\r\nnewlines  ", "🦙 llama 羊驼 12345");
    const plain = loadTokenizer(files, { cache: false });
    const expected = texts.map((t) => Array.from(plain.encode(t)));
    for (const workers of [0, 1, 2]) {
      const pool = new TokenizerPool(files, workers);
      try {
        const batches: string[][] = [];
        for (let i = 0; i < texts.length; i += 64) batches.push(texts.slice(i, i + 64));
        const replies = await Promise.all(batches.map((b) => pool.encode(b)));
        expect(
          replies.flat().map((ids) => Array.from(ids)),
          `${workers} workers`,
        ).toEqual(expected);
        if (workers === 2) {
          // The workers share one piece table: every piece either of them ran through the model is
          // there, so once worker 0 has encoded new text, worker 1 encodes it without the model.
          const fresh = await brownParagraphs("cc0[1-2]");
          const before = await pool.workerStats();
          const first = await pool.encode(fresh); // both idle: worker 0 takes it
          // Worker 0 is busy with a request, so the next one goes to worker 1.
          const [, again] = await Promise.all([pool.encode(fresh.map((t) => `${t} ${t}`)), pool.encode(fresh)]);
          expect(again.map((ids) => Array.from(ids))).toEqual(first.map((ids) => Array.from(ids)));
          const [, w1] = await pool.workerStats();
          expect(w1.cache!.misses - before[1].cache!.misses).toBe(0);
          expect(w1.cache!.shared - before[1].cache!.shared).toBeGreaterThan(0);
        }
      } finally {
        await pool.close();
      }
    }
  }, 180_000); // three pools load llama3 (about 1 s per thread when the machine is idle, many times that when it is not)

  it("a worker that runs dry takes unstarted requests from another's queue, with the same ids", async () => {
    // Equal characters, unequal work: random base64 runs the model for nearly every piece, a
    // repeated sentence hits the piece table. Submitted alternately, the slow ones all queue on
    // worker 0 (ties go to the lower index) and the fast ones on worker 1, which soon runs dry.
    let seed = 7;
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) / (1 << 24);
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const base64 = (n: number) => Array.from({ length: n }, (_, i) => (i % 77 === 76 ? "\n" : alphabet[Math.floor(rand() * 64)])).join("");
    const sentence = "The quick brown fox jumps over the lazy dog. ";
    const batches: string[][] = [];
    for (let i = 0; i < 24; i++) batches.push(i % 2 === 0 ? [base64(40_000)] : [sentence.repeat(Math.ceil(40_000 / sentence.length)).slice(0, 40_000)]);
    const plain = loadTokenizer(files, { cache: false });
    const expected = batches.map((b) => b.map((t) => Array.from(plain.encode(t))));
    const pool = new TokenizerPool(files, 2);
    try {
      await Promise.all([pool.encode(["warm up"]), pool.encode(["warm up"])]); // both started
      const replies = await Promise.all(batches.map((b) => pool.encode(b)));
      expect(replies.map((r) => r.map((ids) => Array.from(ids)))).toEqual(expected);
      expect(pool.moved).toBeGreaterThan(0);
    } finally {
      await pool.close();
    }
  }, 120_000);

  it("expedite runs a queued request next, with the same ids", async () => {
    const texts = await brownParagraphs("c[ab]0[1-9]");
    const pool = new TokenizerPool(files, 1);
    try {
      const batches: string[][] = [];
      for (let i = 0; i + 64 <= texts.length && batches.length < 16; i += 64) batches.push(texts.slice(i, i + 64));
      const expected = await Promise.all(batches.map((b) => pool.encode(b))); // also warms the worker up
      const finished: number[] = [];
      const tickets = batches.map((b, i) => {
        const t = pool.submit(b);
        void t.done.then(() => finished.push(i));
        return t;
      });
      const last = tickets.length - 1;
      pool.expedite(tickets[last]);
      const got = await Promise.all(tickets.map((t) => t.done));
      expect(got.map((r) => r.map((ids) => Array.from(ids)))).toEqual(expected.map((r) => r.map((ids) => Array.from(ids))));
      // The worker may have started one or two before the expedite arrived; the last is not left for last.
      expect(finished.indexOf(last)).toBeLessThan(3);
    } finally {
      await pool.close();
    }
  });
});
