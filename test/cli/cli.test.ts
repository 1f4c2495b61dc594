/** The CLI as users run it: the compiled `mixload` binary in a child process. */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { smallBrownConfig, tempDir } from "../helpers/fixtures.js";
import { mixload } from "./mixload.js";

function writeConfig(dir: string, value: Record<string, unknown>): string {
  const file = path.join(dir, "config.json");
  fs.writeFileSync(file, JSON.stringify(value));
  return file;
}

describe("mixload CLI", () => {
  it("batches --digest: N steps == N/2 steps, --save-state, then --resume for N/2, line for line", async () => {
    const dir = tempDir();
    const config = writeConfig(dir, smallBrownConfig({ tokenizer: { ...(smallBrownConfig().tokenizer as object), workers: 2 } }));
    const whole = await mixload("batches", "--config", config, "--steps", "20", "--digest");
    expect(whole.code, whole.stderr).toBe(0);
    const state = path.join(dir, "state.bin");
    const head = await mixload("batches", "--config", config, "--steps", "10", "--digest", "--save-state", state);
    const tail = await mixload("batches", "--config", config, "--steps", "10", "--digest", "--resume", state);
    expect(head.code, head.stderr).toBe(0);
    expect(tail.code, tail.stderr).toBe(0);
    const lines = whole.stdout.trim().split("\n");
    expect(lines).toHaveLength(20);
    expect(lines[0]).toMatch(/^0 [0-9a-f]{64}$/);
    expect(`${head.stdout}${tail.stdout}`).toBe(whole.stdout);
  });

  it("refuses a corrupted state blob with a clear error", async () => {
    const dir = tempDir();
    const config = writeConfig(dir, smallBrownConfig());
    const state = path.join(dir, "state.bin");
    expect((await mixload("batches", "--config", config, "--steps", "2", "--save-state", state)).code).toBe(0);
    const bytes = fs.readFileSync(state);
    bytes[bytes.length - 3] ^= 0xff;
    fs.writeFileSync(state, bytes);
    const r = await mixload("batches", "--config", config, "--steps", "2", "--resume", state);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("checksum mismatch");
  });

  it("pack-stats --json reports the figures of the contract", async () => {
    const dir = tempDir();
    const config = writeConfig(dir, smallBrownConfig());
    const r = await mixload("pack-stats", "--config", config, "--steps", "10", "--json");
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    for (const key of [
      "documents",
      "tokens",
      "sequences",
      "fill_rate",
      "truncations",
      "min_truncations",
      "padding_tokens",
      "achieved",
      "skipped",
      "tokens_per_s",
    ]) {
      expect(report).toHaveProperty(key);
    }
    expect(report.sequences).toBe(40);
    expect(report.truncations).toBe(report.min_truncations);
    expect(Object.keys(report.achieved)).toEqual(["news", "editorial", "humor"]);
  });

  it("names the config field and the expected form on invalid config", async () => {
    const dir = tempDir();
    const bad = smallBrownConfig({ packing: { strategy: "best-fit" } });
    const r = await mixload("pack-stats", "--config", writeConfig(dir, bad), "--steps", "1");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/config packing\.strategy: .*best_fit/);
    const typo = smallBrownConfig();
    (typo.domains as { sources: Record<string, unknown>[] }[])[1].sources[0].glb = "x";
    const r2 = await mixload("pack-stats", "--config", writeConfig(dir, typo), "--steps", "1");
    expect(r2.stderr).toMatch(/domains\[1\]\.sources\[0\]/);
  });

  it("stops on a bad JSONL line naming file:line, or skips and counts it with on_error: skip", async () => {
    const dir = tempDir();
    const jsonl = path.join(dir, "docs.jsonl");
    fs.writeFileSync(
      jsonl,
      [
        '{"text": "A good first document."}',
        '{"text": "Another good one."}',
        '{"text": broken',
        '{"body": "no text field"}',
        '{"text": "   "}',
        '{"text": "Last."}',
      ].join("\n"),
    );
    const base = smallBrownConfig();
    const domains = [...(base.domains as object[]), { name: "jsonl", sources: [{ type: "jsonl", path: jsonl }] }];
    const failing = await mixload("pack-stats", "--config", writeConfig(dir, { ...base, domains }), "--steps", "30", "--json");
    expect(failing.code).toBe(1);
    expect(failing.stderr).toMatch(/docs\.jsonl:(3|4|5): (malformed_json|missing_field|empty_document)/);
    const skipping = await mixload("pack-stats", "--config", writeConfig(dir, { ...base, domains, on_error: "skip" }), "--steps", "30", "--json");
    expect(skipping.code, skipping.stderr).toBe(0);
    const report = JSON.parse(skipping.stdout);
    expect(report.skipped).toEqual(
      expect.objectContaining({ malformed_json: expect.any(Number), missing_field: expect.any(Number), empty_document: expect.any(Number) }),
    );
  });

  it("tokenize writes Megatron .bin/.idx that read back to the same batches", async () => {
    const dir = tempDir();
    const base = smallBrownConfig();
    const config = writeConfig(dir, base);
    const out = path.join(dir, "tokens");
    const t = await mixload("tokenize", "--config", config, "--out", out);
    expect(t.code, t.stderr).toBe(0);
    const manifest = JSON.parse(fs.readFileSync(path.join(out, "manifest.json"), "utf8"));
    expect(manifest.domains.map((d: { name: string }) => d.name)).toEqual(["news", "editorial", "humor"]);
    // Same documents in the same index order ⇒ the token stream, and so every batch, is identical.
    const megatron = writeConfig(tempDir(), { ...base, domains: manifest.config_fragment.domains });
    const fromText = await mixload("batches", "--config", config, "--steps", "6", "--digest");
    const fromTokens = await mixload("batches", "--config", megatron, "--steps", "6", "--digest");
    expect(fromTokens.code, fromTokens.stderr).toBe(0);
    expect(fromTokens.stdout).toBe(fromText.stdout);
  });
});
