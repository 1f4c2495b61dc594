/**
 * Bad data and bad config at the service's front door (the sources' own line-level checks —
 * invalid UTF-8, broken JSONL lines, missing fields, empty and 50 MB documents — are in
 * test/sources; config paths in test/cli). Here: damaged pre-tokenized files, as the loader
 * and `mixload serve` meet them, and the new serve fields' messages.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { loadConfig, parseConfig } from "../../src/config/load.js";
import { Loader } from "../../src/loader/loader.js";
import { ConfigError, DataError } from "../../src/util/errors.js";
import { CLI, DOMAINS, ROOT, tempDir, writeConfig, writeCorpus } from "./harness.js";

const dir = tempDir();
const corpus = writeCorpus(dir, [20, 20, 20], 100);
const pristine = Object.fromEntries(DOMAINS.flatMap((d) => [".bin", ".idx"].map((ext) => [d + ext, fs.readFileSync(path.join(dir, d + ext))])));

function restore(): void {
  for (const [name, bytes] of Object.entries(pristine)) {
    fs.rmSync(path.join(dir, name), { recursive: true, force: true });
    fs.writeFileSync(path.join(dir, name), bytes);
  }
}

async function openError(config: string): Promise<unknown> {
  try {
    const loader = await Loader.open(loadConfig(config), { workers: 0 });
    for (let i = 0; i < 3; i++) await loader.next([1, 1, 1]);
    await loader.close();
    return null;
  } catch (e) {
    return e;
  }
}

describe("damaged pre-tokenized files", () => {
  const config = writeConfig(dir, corpus, "data");

  it("truncated .idx/.bin, wrong magic, unreadable files: a DataError naming the file, never a deep crash", async () => {
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...DOMAINS),
        fc.oneof(
          fc
            .double({ min: 0, max: 0.999, noNaN: true })
            .map((f) => ({ kind: "truncated .idx", ext: ".idx", apply: (b: Buffer) => b.subarray(0, Math.floor(b.length * f)) })),
          fc
            .double({ min: 0, max: 0.999, noNaN: true })
            .map((f) => ({ kind: "truncated .bin", ext: ".bin", apply: (b: Buffer) => b.subarray(0, Math.floor(b.length * f)) })),
          fc.nat({ max: 8 }).map((i) => ({
            kind: "wrong magic",
            ext: ".idx",
            apply: (b: Buffer) => Buffer.concat([b.subarray(0, i), Buffer.from([b[i] ^ 0x20]), b.subarray(i + 1)]),
          })),
          fc.constantFrom(".idx", ".bin").map((ext) => ({ kind: `unreadable ${ext}`, ext, apply: null })),
        ),
        async (domain, damage) => {
          restore();
          const file = path.join(dir, domain + damage.ext);
          if (damage.apply === null) {
            fs.rmSync(file);
            fs.mkdirSync(file); // a folder where the file should be: unreadable even for root
          } else {
            fs.writeFileSync(file, damage.apply(pristine[domain + damage.ext]));
          }
          const e = await openError(config);
          expect(e, damage.kind).toBeInstanceOf(DataError);
          const d = e as DataError;
          // A .bin shorter than its index says is found while checking the index: reported on the
          // .idx, naming the .bin. Everything else is reported on the damaged file itself.
          const prefix = path.join(dir, domain);
          expect([`${prefix}.idx`, `${prefix}.bin`]).toContain(d.file);
          expect(d.message).toContain(file);
          expect(d.reason).toMatch(/^(bad_format|unreadable_file)$/);
          expect(d.message.startsWith(`${d.file}: ${d.reason}: `)).toBe(true);
          seen.add(damage.kind);
        },
      ),
      { numRuns: 60, seed: 9 },
    );
    restore();
    expect(seen.size).toBeGreaterThanOrEqual(4);
  });

  it("`mixload serve` on a truncated .bin exits 1 with file and reason, no stack trace", async () => {
    restore();
    const bin = path.join(dir, "beta.bin");
    fs.writeFileSync(bin, pristine["beta.bin"].subarray(0, 10));
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) =>
      execFile(process.execPath, [CLI, "serve", "--config", config], (err, _o, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
      ),
    );
    restore();
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^mixload: .*beta\.(idx|bin): bad_format: .*beta\.bin/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  }, 60_000);
});

describe("serve config fields", () => {
  const base = JSON.parse(fs.readFileSync(writeConfig(dir, corpus, "cfg"), "utf8")) as Record<string, Record<string, unknown>>;
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ max_message_bytes: "16MB" }, "serve.max_message_bytes", /expected number/i],
    [{ max_message_bytes: 100 }, "serve.max_message_bytes", />=\s*1024|too small/i],
    [{ curve: {} }, "serve.curve.secret_key_file", /expected string|required/i],
    [{ curve: { secret_key_file: "k", public: "x" } }, "serve.curve", /unrecognized key.*public/i],
    [{ control: "" }, "serve.control", /too small|at least|>=\s*1/i],
  ];
  for (const [serve, field, form] of cases) {
    it(`${JSON.stringify(serve)} → ${field}`, () => {
      const e = (() => {
        try {
          parseConfig({ ...base, serve: { ...base.serve, ...serve } }, ROOT);
          return null;
        } catch (x) {
          return x;
        }
      })();
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).path).toBe(field);
      expect((e as Error).message).toMatch(form);
    });
  }
});
