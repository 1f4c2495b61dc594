/**
 * Per-seed document split (gym issue 14, part 1): every training domain's documents go to one
 * of three parts by a hash of (seed, domain name, doc id), so the split is a pure function of
 * the seed, never of the order anything ran in:
 *
 *   u = hashInts(seed, h(name), doc) / 2³²;   u < r → reference,   u < r + h → held-out,   else train
 *
 * (r, h = gym.split.reference, gym.split.heldout). The proxy trains only on `train`, the DoReMi
 * reference only on `reference` — the same distribution, other documents (Xie et al. 2023,
 * §2: the reference is trained on the same domains, not the same examples) — and held-out
 * documents are in neither. A domain with an explicit gym.heldout set (other files) keeps all
 * of it for evaluation and splits its own documents into train and reference only.
 *
 * The parts are written once per seed as Megatron token files (already tokenized, so the
 * loader never tokenizes again) into a run directory under cache_dir, and the loader reads
 * them through ordinary `megatron` sources: the loader, its packing and its sampler are the
 * ones every other command uses, unchanged. Why files rather than the loader's kept-document
 * subsets (select, issue 12): a kept subset of a text source is still tokenized at every loader
 * open — once per mixer per seed — while token files make "tokenize once" hold; they need no
 * loader change, and a run's parts can be inspected.
 */
import fs from "node:fs";
import path from "node:path";
import { parseConfig, type LoadedConfig } from "../config/load.js";
import { MegatronWriter } from "../sources/megatron.js";
import { hashInts } from "../util/hash.js";
import { ConfigError } from "../util/errors.js";
import type { GymConfig } from "./config.js";
import type { GymCorpus } from "./corpus.js";

export type Part = "train" | "reference" | "heldout";

export interface SplitFractions {
  readonly reference: number;
  readonly heldout: number;
}

/** A uint32 for a domain name (so the split does not depend on the domain's position). */
export function nameKey(name: string): number {
  const codes: number[] = [];
  for (const ch of name) codes.push(ch.codePointAt(0) ?? 0);
  return hashInts(...codes);
}

export function partOf(seed: number, domainKey: number, doc: number, f: SplitFractions): Part {
  const u = hashInts(seed >>> 0, domainKey, doc) / 2 ** 32;
  if (u < f.reference) return "reference";
  if (u < f.reference + f.heldout) return "heldout";
  return "train";
}

export interface SeedSplit {
  readonly seed: number;
  /** Loader config of the proxy runs: each domain reads its train part. */
  readonly train: LoadedConfig;
  /** Loader config of the reference run: each domain reads its reference part (seed shifted). */
  readonly reference: LoadedConfig;
  /** Held-out documents per training domain (config order). */
  readonly heldout: Int32Array[][];
  /** Documents per part per domain, for the report. */
  readonly counts: Record<Part, number[]>;
}

/**
 * The held-out documents a run evaluates: each cut to its first seqLen tokens (one evaluation
 * segment, as the learner scores them), in order, until `maxTokens` (at least one document).
 * Subarrays: no copy.
 */
export function capHeldout(docs: readonly Int32Array[], seqLen: number, maxTokens: number): Int32Array[] {
  const out: Int32Array[] = [];
  let n = 0;
  for (const d of docs) {
    const cut = d.length > seqLen ? d.subarray(0, seqLen) : d;
    if (out.length > 0 && n + cut.length > maxTokens) break;
    out.push(cut);
    n += cut.length;
  }
  return out;
}

/** Split every domain for `seed`, write the train and reference parts under `dir`, and derive both loader configs. */
export function splitForSeed(g: GymConfig, corpus: GymCorpus, seed: number, dir: string, vocabSize: number): SeedSplit {
  const f = g.gym.split;
  fs.mkdirSync(dir, { recursive: true });
  const counts: Record<Part, number[]> = { train: [], reference: [], heldout: [] };
  const heldout: Int32Array[][] = [];
  const trainDomains: unknown[] = [];
  const refDomains: unknown[] = [];
  corpus.domains.forEach((d, i) => {
    const explicit = corpus.heldout.get(d.name);
    const fractions: SplitFractions = explicit ? { reference: f.reference, heldout: 0 } : f;
    const key = nameKey(d.name);
    const writers = {
      train: new MegatronWriter(path.join(dir, `${i}.train`), { vocabSize }),
      reference: new MegatronWriter(path.join(dir, `${i}.reference`), { vocabSize }),
    };
    const held: Int32Array[] = [];
    d.docs.forEach((tokens, doc) => {
      const part = partOf(seed, key, doc, fractions);
      // A `select` policy thins what the proxy trains on; reference and held-out parts stay as drawn.
      if (part === "train" && d.kept !== undefined && d.kept[doc] === 0) return;
      if (part === "heldout") held.push(tokens);
      else writers[part].add(tokens);
    });
    for (const w of Object.values(writers)) w.finish();
    const h = capHeldout(explicit ? explicit.docs : held, g.loaded.config.seq_len, g.gym.heldout_tokens);
    counts.train.push(writers.train.numDocuments);
    counts.reference.push(writers.reference.numDocuments);
    counts.heldout.push(h.length);
    for (const [part, n] of [
      ["train", writers.train.numDocuments],
      ["reference", writers.reference.numDocuments],
      ["heldout", h.length],
    ] as const) {
      if (n === 0)
        throw new ConfigError(
          `gym.split`,
          `seed ${seed} leaves the ${part} part of domain "${d.name}" empty (${d.docs.length} documents): give it more documents or change gym.split`,
        );
    }
    heldout.push(h);
    trainDomains.push({ name: d.name, sources: [{ type: "megatron", path: path.join(dir, `${i}.train`) }] });
    refDomains.push({ name: d.name, sources: [{ type: "megatron", path: path.join(dir, `${i}.reference`) }] });
  });
  // Tokens are already there: the loader's tokenizer only supplies EOS/pad and is not run.
  const base = { ...g.raw, tokenizer: { ...(g.raw.tokenizer as object), workers: 0 } };
  const train = parseConfig({ ...base, seed, domains: trainDomains }, g.loaded.baseDir);
  const reference = parseConfig({ ...base, seed: seed + g.gym.reference.seed_offset, domains: refDomains }, g.loaded.baseDir);
  return { seed, train, reference, heldout, counts };
}
