/**
 * Resuming from the wrong state is a user's mistake, not a bug: through the real CLI, `batches
 * --resume` and `serve --resume` refuse it in one line (no stack trace) that names what differs.
 * States written before the fingerprint's inputs were saved still resume.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { decodeStateBlob, encodeStateBlob } from "../../src/loader/state-blob.js";
import { ROOT, smallBrownConfig, tempDir } from "../helpers/fixtures.js";
import { BIN, mixload } from "./mixload.js";

/** The small Brown config with the 4k-vocab tokenizer: each CLI run loads it, and llama3's costs ~3× more start-up. */
function baseConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const tok = path.join(ROOT, "examples/tokenizers/brown-4k");
  return smallBrownConfig({ tokenizer: { path: path.join(tok, "tokenizer.json"), config: path.join(tok, "tokenizer_config.json"), workers: 0 }, ...overrides });
}

function writeConfig(dir: string, name: string, value: Record<string, unknown>): string {
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(value));
  return file;
}

/** Exit 1 and exactly one stderr line, `mixload: <message>`, with no stack frames. */
function expectOneLine(r: { stderr: string; code: number }, pattern: RegExp): void {
  expect(r.code, r.stderr).toBe(1);
  const lines = r.stderr.trim().split("\n");
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^mixload: /);
  expect(lines[0]).not.toMatch(/\n\s+at /);
  expect(lines[0]).toMatch(pattern);
}

/** A state from `batches --save-state` after 3 steps of `config`. */
async function batchesState(dir: string, config: string): Promise<string> {
  const state = path.join(dir, "batches-state.bin");
  const r = await mixload("batches", "--config", config, "--steps", "3", "--digest", "--save-state", state);
  expect(r.code, r.stderr).toBe(0);
  return state;
}

/** `serve` until it listens, then SIGTERM: the run dir's state.bin. */
async function serveState(dir: string, config: string): Promise<string> {
  const runDir = path.join(dir, "serve-run");
  const sock = path.join(dir, "first");
  const child = spawn(
    process.execPath,
    [BIN, "serve", "--config", config, "--json", "--control", `ipc://${sock}.sock`, "--weights", `ipc://${sock}.pub`, "--run-dir", runDir],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let err = "";
  await new Promise<void>((resolve, reject) => {
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
      if (err.includes('"event":"listening"')) resolve();
    });
    child.once("exit", (code) => reject(new Error(`serve exited (${code}) before listening: ${err}`)));
  });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  child.kill("SIGTERM");
  expect(await exited, err).toBe(0);
  const state = path.join(runDir, "state.bin");
  expect(fs.existsSync(state), err).toBe(true);
  return state;
}

function serveResume(dir: string, config: string, state: string) {
  const sock = path.join(dir, "second");
  return mixload(
    "serve",
    "--config",
    config,
    "--control",
    `ipc://${sock}.sock`,
    "--weights",
    `ipc://${sock}.pub`,
    "--run-dir",
    path.join(dir, "serve-run-2"),
    "--resume",
    state,
  );
}

describe("resume from the wrong state: one line naming what differs", () => {
  it("batches --resume names each differing field: seed, seq_len, world, packing, a domain's source, the domain set, the mixer", async () => {
    const dir = tempDir();
    const base = baseConfig();
    const state = await batchesState(dir, writeConfig(dir, "base", base));

    const cases: [string, Record<string, unknown>, RegExp][] = [
      ["seed", { seed: 8 }, /different config \(state → this config: seed 7 → 8\)$/],
      ["seq_len", { seq_len: 256 }, /seq_len 128 → 256/],
      ["world × batch_size (an elastic resume may change each, not the product)", { world: 1, batch_size: 3 }, /rows_per_step 4 → 3 \(world × batch_size/],
      ["packing", { packing: { strategy: "concat", buffer_docs: 32 } }, /packing\.strategy "best_fit" → "concat"/],
    ];
    for (const [what, change, pattern] of cases) {
      const r = await mixload("batches", "--config", writeConfig(dir, what.replace(/ /g, "-"), { ...base, ...change }), "--steps", "1", "--resume", state);
      expectOneLine(r, pattern);
    }

    const otherSource = structuredClone(base) as { domains: { sources: { glob: string }[] }[] };
    otherSource.domains[1].sources[0].glob = "cb0[3-4]";
    expectOneLine(
      await mixload("batches", "--config", writeConfig(dir, "source", otherSource), "--steps", "1", "--resume", state),
      /domains\[editorial\]\.sources\[0\]\.glob "cb0\[1-2\]" → "cb0\[3-4\]"/,
    );
    const fewer = structuredClone(base) as { domains: unknown[] };
    fewer.domains.pop();
    expectOneLine(
      await mixload("batches", "--config", writeConfig(dir, "fewer", fewer), "--steps", "1", "--resume", state),
      /domains \["humor"\] only in the state/,
    );
    expectOneLine(
      await mixload("batches", "--config", writeConfig(dir, "mixer", { ...base, mixer: { name: "natural" } }), "--steps", "1", "--resume", state),
      /cannot resume: .*batches-state\.bin was saved with mixer uniform, the config has natural$/,
    );
    fs.writeFileSync(path.join(dir, "junk.bin"), "{}");
    expectOneLine(
      await mixload("batches", "--config", writeConfig(dir, "junk", base), "--steps", "1", "--resume", path.join(dir, "junk.bin")),
      /junk\.bin: not a mixload state blob/,
    );
  }, 300_000); // ten CLI runs, each loading a tokenizer

  it("a state saved before the fingerprint's inputs were recorded still resumes, and a mismatch still fails in one line", async () => {
    const dir = tempDir();
    const base = baseConfig();
    const config = writeConfig(dir, "base", base);
    const whole = await mixload("batches", "--config", config, "--steps", "5", "--digest");
    expect(whole.code, whole.stderr).toBe(0);
    const state = await batchesState(dir, config);
    const value = decodeStateBlob(fs.readFileSync(state)) as { loader: Record<string, unknown> };
    expect(typeof value.loader.fingerprintInputs).toBe("string");
    delete value.loader.fingerprintInputs; // what an older mixload wrote
    const old = path.join(dir, "old.bin");
    fs.writeFileSync(old, encodeStateBlob(value));

    const tail = await mixload("batches", "--config", config, "--steps", "2", "--digest", "--resume", old);
    expect(tail.code, tail.stderr).toBe(0);
    expect(tail.stdout).toBe(whole.stdout.split("\n").slice(3).join("\n"));
    expectOneLine(
      await mixload("batches", "--config", writeConfig(dir, "seed", { ...base, seed: 9 }), "--steps", "1", "--resume", old),
      /different config \(state → this config: fingerprint [0-9a-f]{32}, this config [0-9a-f]{32}; the state predates field names/,
    );
  }, 180_000);

  it("serve --resume: another config, feedback_lag or mixer, and a batches state, each refused in one line", async () => {
    const dir = tempDir();
    const base = baseConfig({ mixer: { name: "doremi" } });
    const state = await serveState(dir, writeConfig(dir, "base", base));

    expectOneLine(
      await serveResume(dir, writeConfig(dir, "seq", { ...base, seq_len: 64 }), state),
      /^mixload: cannot resume: the state was saved by a run with a different config \(state → this config: seq_len 128 → 64\)$/,
    );
    expectOneLine(
      await serveResume(dir, writeConfig(dir, "lag", { ...base, serve: { feedback_lag: 3 } }), state),
      /cannot resume: the resume blob was saved with serve\.feedback_lag 2, the config has 3$/,
    );
    expectOneLine(
      await serveResume(dir, writeConfig(dir, "mixer", { ...base, mixer: { name: "uniform" } }), state),
      /cannot resume: the resume blob was saved with mixer doremi, the config has uniform$/,
    );
    const fromBatches = await batchesState(dir, writeConfig(dir, "same", base));
    expectOneLine(await serveResume(dir, writeConfig(dir, "same2", base), fromBatches), /batches-state\.bin: not a mixload serve state/);
  }, 300_000);
});
