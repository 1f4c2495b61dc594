/**
 * Pre-tokenized corpora with pretraining-like document lengths for the benchmarks: log-normal
 * lengths (mean ≈ 600 tokens, ~4% longer than L = 2048), random ids below 32,000, written with
 * the real MegatronWriter. Deterministic for a seed; skipped when the last domain already exists.
 */
import fs from "node:fs";
import path from "node:path";
import { MegatronWriter } from "../src/sources/index.js";

export function writeSyntheticMegatron(dir: string, names: readonly string[], tokensPerDomain: number, seed: number): void {
  if (fs.existsSync(path.join(dir, `${names[names.length - 1]}.idx`))) return;
  fs.mkdirSync(dir, { recursive: true });
  let state = seed;
  const rand = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  for (const name of names) {
    const writer = new MegatronWriter(path.join(dir, name), { vocabSize: 32000 });
    for (let tokens = 0; tokens < tokensPerDomain;) {
      // Box–Muller normal → log-normal with σ = 1 and mean 600.
      const normal = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
      const n = Math.max(1, Math.round(Math.exp(Math.log(600) - 0.5 + normal)));
      const doc = new Int32Array(n);
      for (let i = 0; i < n; i++) doc[i] = (rand() * 32000) | 0;
      writer.add(doc);
      tokens += n;
    }
    writer.finish();
  }
}
