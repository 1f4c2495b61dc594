/**
 * One row per tokenizer (grouped by family, tokenize-corpus.ts): mixload's cached encoder, one
 * thread, cold cache, against native Rust HF tokenizers (`@anush008/tokenizers`, one rayon
 * thread, in a child process) on the same texts — Brown paragraphs, Spam Assassin mails and
 * source code — with the plain JS library for reference.
 *
 * Figures are tokens per CPU-second (process.cpuUsage), so other load on a shared machine does not
 * count against either side. Each repeat runs every tokenizer's mixload pass and native pass back
 * to back, and the ratio is taken within the repeat; the rows show medians. The plain library is
 * slow (llama2: ~50 k tokens/s) and runs once, on the same texts: it is the identity reference —
 * every document's ids must equal mixload's — and its speed is reported, not judged. Token counts
 * must equal native's in every repeat. Load (parsing tokenizer.json, building tables) is not timed.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Tokenizer as NativeTokenizer } from "@anush008/tokenizers";
import { loadTokenizer } from "../src/tokenize/tokenizer.js";
import { brownTexts, codeTexts, lenmlFiles, spamTexts, TOKENIZER_FAMILIES, type LenmlName } from "./tokenize-corpus.js";

export interface FamilyRow {
  readonly family: string;
  readonly tokenizer: LenmlName;
  /** "cached", or why the plain library is used. */
  readonly encoder: string;
  readonly tokens: number;
  /** Tokens per CPU-second, medians over repeats. */
  readonly mixloadPerCore: number;
  readonly nativePerCore: number;
  readonly plainPerCore: number;
  /** Median over repeats of mixload ÷ native within the repeat. */
  readonly ratio: number;
  readonly hitRate: number;
  /** Documents whose ids differ from the plain library's (must be 0). */
  readonly mismatched: number;
}

export interface FamilyBenchResult {
  readonly documents: number;
  readonly characters: number;
  readonly rows: FamilyRow[];
}

/** The bench texts: every 3rd Brown paragraph, every 12th mail, every 2nd source file (~3 M characters). */
export async function familyTexts(): Promise<string[]> {
  return [...(await brownTexts()).filter((_, i) => i % 3 === 0), ...spamTexts(12), ...codeTexts().filter((_, i) => i % 2 === 0)];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function cpuS<T>(run: () => T): { value: T; cpuS: number } {
  const c0 = process.cpuUsage();
  const value = run();
  const c = process.cpuUsage(c0);
  return { value, cpuS: (c.user + c.system) / 1e6 };
}

/** Child side: native encodeBatch over the texts, timed after `fromFile`. */
async function nativeChild(name: LenmlName): Promise<void> {
  const texts = await familyTexts();
  const tokenizer = NativeTokenizer.fromFile(lenmlFiles(name).path);
  const c0 = process.cpuUsage();
  let tokens = 0;
  for (let i = 0; i < texts.length; i += 1024) {
    for (const e of await tokenizer.encodeBatch(texts.slice(i, i + 1024), { addSpecialTokens: false })) tokens += e.getIds().length;
  }
  const c = process.cpuUsage(c0);
  process.stdout.write(JSON.stringify({ tokens, cpuS: (c.user + c.system) / 1e6 }));
}

function native(name: LenmlName): { tokens: number; cpuS: number } {
  const env = { ...process.env, RAYON_NUM_THREADS: "1", TOKENIZERS_PARALLELISM: "false" };
  const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--native-child", name], { env, encoding: "utf8", maxBuffer: 1 << 20 });
  if (child.status !== 0) throw new Error(`native ${name} failed (${child.status}): ${child.stderr}`);
  return JSON.parse(child.stdout) as { tokens: number; cpuS: number };
}

/** A fresh tokenizer (parsed anew, so its cache is empty), loaded before the clock starts. */
function freshMixload(name: LenmlName) {
  const t = loadTokenizer(lenmlFiles(name), { fresh: true });
  t.encode("warm up the lazily built library and encoder");
  return t;
}

export async function benchTokenizerFamilies(
  options: { repeats?: number; log?: (s: string) => void; only?: readonly LenmlName[] } = {},
): Promise<FamilyBenchResult> {
  const repeats = options.repeats ?? 3;
  const log = options.log ?? (() => {});
  const texts = await familyTexts();
  const entries = Object.entries(TOKENIZER_FAMILIES).flatMap(([family, names]) => names.map((tokenizer) => ({ family, tokenizer: tokenizer as LenmlName })));
  const chosen = entries.filter((e) => options.only === undefined || options.only.includes(e.tokenizer));
  const perRepeat = new Map<LenmlName, { mixload: number; native: number; tokens: number; hitRate: number }[]>();
  let reference = new Map<LenmlName, { ids: Int32Array; ends: Int32Array; encoder: string }>();
  for (let r = 0; r < repeats; r++) {
    for (const { tokenizer } of chosen) {
      log(`tokenize families: ${tokenizer}, repeat ${r + 1}/${repeats}`);
      const t = freshMixload(tokenizer);
      const m = cpuS(() => t.encodeBatch(texts));
      const tokens = m.value.ids.length - texts.length; // EOS excluded: native appends none
      const n = native(tokenizer);
      if (n.tokens !== tokens) throw new Error(`${tokenizer}: mixload ${tokens} tokens, native ${n.tokens}`);
      const list = perRepeat.get(tokenizer) ?? [];
      const stats = t.cacheStats();
      list.push({ mixload: tokens / m.cpuS, native: n.tokens / n.cpuS, tokens, hitRate: stats === null ? NaN : stats.hits / (stats.hits + stats.misses) });
      perRepeat.set(tokenizer, list);
      if (r === 0) reference.set(tokenizer, { ...m.value, encoder: t.encoder });
    }
  }
  const rows: FamilyRow[] = [];
  for (const { family, tokenizer } of chosen) {
    log(`tokenize families: ${tokenizer}, the plain library (identity reference)`);
    const plain = loadTokenizer(lenmlFiles(tokenizer), { cache: false, fresh: true });
    plain.encode("warm up");
    const p = cpuS(() => texts.map((s) => plain.encode(s)));
    const ref = reference.get(tokenizer)!;
    let mismatched = 0;
    p.value.forEach((want, i) => {
      const got = ref.ids.subarray(i === 0 ? 0 : ref.ends[i - 1], ref.ends[i]);
      if (got.length !== want.length || got.some((x, k) => x !== want[k])) mismatched++;
    });
    const runs = perRepeat.get(tokenizer)!;
    rows.push({
      family,
      tokenizer,
      encoder: ref.encoder,
      tokens: runs[0].tokens,
      mixloadPerCore: median(runs.map((x) => x.mixload)),
      nativePerCore: median(runs.map((x) => x.native)),
      plainPerCore: runs[0].tokens / p.cpuS,
      ratio: median(runs.map((x) => x.mixload / x.native)),
      hitRate: median(runs.map((x) => x.hitRate)),
      mismatched,
    });
  }
  reference = new Map();
  return { documents: texts.length, characters: texts.reduce((a, s) => a + s.length, 0), rows };
}

if (process.argv[2] === "--native-child" && process.argv[1] === fileURLToPath(import.meta.url)) await nativeChild(process.argv[3] as LenmlName);
