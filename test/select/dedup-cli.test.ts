/** `mixload dedup` through the compiled command, as users run it (build first: `npm run build`). */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, test } from "vitest";
import { mixload } from "../cli/mixload.js";
import { LLAMA3, tempDir } from "../helpers/fixtures.js";
import { mulberry32 } from "../../src/util/hash.js";
import { editWords, spamTexts, writeJsonl } from "./dedup-fixtures.js";

const mails = spamTexts(16).slice(0, 40);

function writeConfig(dir: string, dedup?: unknown): string {
  const web = mails.slice(0, 20);
  const books = [...mails.slice(20, 40), web[3], editWords(web[6], 0.01, mulberry32(2), ["x"]), mails[25]];
  writeJsonl(path.join(dir, "web.jsonl"), web);
  writeJsonl(path.join(dir, "books.jsonl"), books);
  const file = path.join(dir, "config.json");
  fs.writeFileSync(
    file,
    JSON.stringify({
      tokenizer: { path: path.join(LLAMA3, "tokenizer.json") },
      cache_dir: "cache",
      ...(dedup === undefined ? {} : { dedup }),
      domains: [
        { name: "web", sources: [{ type: "jsonl", path: "web.jsonl" }] },
        { name: "books", sources: [{ type: "jsonl", path: "books.jsonl" }] },
      ],
    }),
  );
  return file;
}

describe("mixload dedup", () => {
  test("--json: per-domain drops, the cross-domain matrix, memory and speed; the sidecar in --out", async () => {
    const dir = tempDir();
    const { stdout, stderr, code } = await mixload("dedup", "--config", writeConfig(dir), "--out", path.join(dir, "out"), "--json");
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const r = JSON.parse(stdout);
    expect(r.sidecar).toBe(path.join(dir, "out", "dedup.bin"));
    expect(fs.existsSync(r.sidecar)).toBe(true);
    expect(r.domains).toEqual([
      { name: "web", documents: 20, kept: 20, exact: 0, near: 0, skipped: {} },
      { name: "books", documents: 23, kept: 20, exact: 2, near: 1, skipped: {} },
    ]);
    // books #20 duplicates web #3 and #22 duplicates books #5 (exact); #21 is a near copy of web #6.
    expect(r.matrix).toEqual({
      domains: ["web", "books"],
      exact: [
        [0, 0],
        [1, 1],
      ],
      near: [
        [0, 0],
        [1, 0],
      ],
    });
    expect(r.bytes_per_document).toBe(534);
    expect(r.documents_per_gb).toBe(Math.floor(2 ** 30 / 534));
    expect(r.documents_per_s).toBeGreaterThan(0);
  });

  test("the table, and the config's sidecar path when there is no --out", async () => {
    const dir = tempDir();
    const { stdout, code } = await mixload("dedup", "--config", writeConfig(dir, { sidecar: "dd/dedup.bin" }));
    expect(code).toBe(0);
    expect(stdout).toMatch(/^books\s+23\s+20\s+2\s+1\s+0$/m);
    expect(stdout).toMatch(/^books\s+1\/1\s+1\/0$/m);
    expect(stdout).toContain(`sidecar: ${path.join(dir, "dd", "dedup.bin")}`);
    expect(fs.existsSync(path.join(dir, "dd", "dedup.bin"))).toBe(true);
  });

  test("bad input: one line naming the field or the file and line", async () => {
    const dir = tempDir();
    const bad = await mixload("dedup", "--config", writeConfig(dir, { near: { bands: 30 } }));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(
      `mixload: config dedup.near.bands: must divide num_perm (128) so every band has the same rows, got 30 in ${path.join(dir, "config.json")}\n`,
    );
    const config = writeConfig(dir);
    fs.appendFileSync(path.join(dir, "books.jsonl"), "{oops\n");
    const broken = await mixload("dedup", "--config", config);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(new RegExp(`^mixload: ${path.join(dir, "books.jsonl")}:24: malformed_json: [^\\n]*\\n$`));
  });
});
