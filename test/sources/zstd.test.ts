/**
 * `.zst` sources, with fixtures written by the real zstd CLI (an independent writer): single and
 * multi-frame files, skippable frames (pzstd), frames with and without checksum and content size,
 * and truncated or corrupted files, which must be `bad_format` errors and never a cache file.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { openSource, sourceSpecSchema } from "../../src/sources/index.js";
import { ZstdDecoder, ZstdFormatError } from "../../src/sources/zstd.js";
import { DataError } from "../../src/util/errors.js";
import { asSync, readAll, tempDir } from "./tmp.js";

const tmp = tempDir();

/** Run a zstd tool; a missing one fails the test with how to install it (never a skip). */
export function zstdCli(tool: "zstd" | "pzstd", args: string[], input?: Buffer): Buffer {
  const r = spawnSync(tool, args, { input, maxBuffer: 1 << 30 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === "ENOENT") {
    throw new Error(`the ${tool} CLI is needed to write the test fixtures: apt-get install -y zstd`);
  }
  if (r.status !== 0) throw new Error(`${tool} ${args.join(" ")} failed: ${r.stderr.toString()}`);
  return r.stdout;
}

/** `text` compressed by the zstd CLI with `flags`, from stdin (no content size) or a file (with it). */
function compress(text: string | Buffer, flags: string[] = [], viaFile = true): Buffer {
  if (!viaFile) return zstdCli("zstd", ["-q", "-c", ...flags], Buffer.from(text));
  const file = tmp("plain");
  fs.writeFileSync(file, text);
  return zstdCli("zstd", ["-q", "-c", ...flags, file]);
}

function decode(bytes: Uint8Array, pieces: number[] = []): Buffer {
  const out: Uint8Array[] = [];
  const d = new ZstdDecoder((b) => out.push(b));
  let at = 0;
  for (const end of [...pieces, bytes.length]) {
    d.push(bytes.subarray(at, Math.max(at, end)));
    at = Math.max(at, end);
  }
  d.end();
  return Buffer.concat(out);
}

function jsonl(n: number, tag = "doc"): string {
  return Array.from({ length: n }, (_, i) => JSON.stringify({ id: i, text: `${tag} ${i} ${"lorem ipsum ".repeat(i % 13)}` })).join("\n") + "\n";
}

describe("ZstdDecoder on zstd CLI output", () => {
  it("decodes every frame layout the CLI writes, whatever the chunking", () => {
    const text = jsonl(400);
    const variants: [string, Buffer][] = [
      ["default (checksum, content size)", compress(text)],
      ["no checksum", compress(text, ["--no-check"])],
      ["no content size (stdin)", compress(text, [], false)],
      ["level 19", compress(text, ["-19"])],
      ["empty input", compress("")],
      ["two frames (cat a.zst b.zst)", Buffer.concat([compress(text.slice(0, 5000)), compress(text.slice(5000), ["--no-check"])])],
      ["pzstd (skippable frames)", zstdCli("pzstd", ["-q", "-c", "-p", "2"], Buffer.from(text))],
    ];
    for (const [name, bytes] of variants) {
      const expected = name === "empty input" ? "" : text;
      expect(decode(bytes).toString(), name).toBe(expected);
      fc.assert(
        fc.property(fc.array(fc.nat(bytes.length), { maxLength: 8 }), (cuts) => {
          expect(
            decode(
              bytes,
              cuts.sort((a, b) => a - b),
            ).toString(),
          ).toBe(expected);
        }),
        { numRuns: 30 },
      );
      // Byte by byte: every header straddles a push.
      expect(
        decode(
          bytes,
          Array.from({ length: bytes.length }, (_, i) => i),
        ).toString(),
        name,
      ).toBe(expected);
    }
  });

  it("reads skippable frames anywhere", () => {
    const skippable = (n: number) => {
      const b = Buffer.alloc(8 + n, 0xab);
      b.writeUInt32LE(0x184d2a5e, 0);
      b.writeUInt32LE(n, 4);
      return b;
    };
    const bytes = Buffer.concat([skippable(0), compress("a\n"), skippable(10), compress("b\n"), skippable(3)]);
    expect(decode(bytes).toString()).toBe("a\nb\n");
  });

  it("rejects every truncation that is not at a frame boundary", () => {
    const one = compress(jsonl(50));
    const bytes = Buffer.concat([one, one]);
    for (let cut = 0; cut < bytes.length; cut += cut < 40 ? 1 : 37) {
      if (cut === one.length) continue; // a whole first frame is a valid file
      expect(() => decode(bytes.subarray(0, cut)), `cut at ${cut}`).toThrow(ZstdFormatError);
    }
  });

  it("never decodes a corrupted frame into different data without an error", () => {
    const text = jsonl(200);
    const bytes = compress(text);
    let rejected = 0;
    for (let at = 0; at < bytes.length; at += 7) {
      const bad = Buffer.from(bytes);
      bad[at] ^= 0x5a;
      let out: string | undefined;
      try {
        out = decode(bad).toString();
      } catch (e) {
        expect(e, `corruption at ${at}`).toBeInstanceOf(ZstdFormatError);
        rejected += 1;
        continue;
      }
      // Only a byte that does not change the content (e.g. a larger window) may pass.
      expect(out === text, `corruption at byte ${at} decoded silently to different data`).toBe(true);
    }
    expect(rejected).toBeGreaterThan(0);
  });
});

describe(".jsonl.zst / .json.zst via openSource", () => {
  const spec = (p: string) => sourceSpecSchema.parse({ type: "jsonl", path: p });

  function setup(name: string, bytes: Buffer): { dir: string; cacheDir: string; file: string } {
    const dir = tmp("zst");
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, name), bytes);
    return { dir, cacheDir: path.join(dir, "cache"), file: path.join(dir, name) };
  }

  it("serves a multi-frame .jsonl.zst like the plain file, and caches it once", async () => {
    const a = jsonl(300, "a");
    const b = '{"text": 7}\n' + jsonl(100, "b");
    const { dir, cacheDir, file } = setup("m.jsonl.zst", Buffer.concat([compress(a), compress(b, ["-19"])]));
    const src = asSync(await openSource(spec("m.jsonl.zst"), { baseDir: dir, cacheDir }));
    expect(src.numDocuments).toBe(401);
    expect(src.read(0)).toEqual({ kind: "text", text: "a 0 " });
    expect(src.read(300)).toMatchObject({ kind: "bad", reason: "not_a_string", file, line: 301 });
    expect(src.read(400)).toEqual({ kind: "text", text: JSON.parse(b.trim().split("\n")[100]).text });
    expect(src.info).toMatchObject({ format: "jsonl.zst", files: 1, remote: false, bytes: fs.statSync(file).size, columns: ["id", "text"] });
    src.close();
    const cached = fs.readdirSync(cacheDir);
    expect(cached).toHaveLength(1);
    expect(fs.readFileSync(path.join(cacheDir, cached[0]), "utf8")).toBe(a + b);
    (await openSource(spec("m.jsonl.zst"), { baseDir: dir, cacheDir })).close();
    expect(fs.readdirSync(cacheDir)).toEqual(cached);
  });

  it("decodes a .zst of several 4 MiB reads (blocks straddle reads)", async () => {
    // Random hex compresses only to half: 20 MB of it is a .zst of three reads, so the second
    // read fills the whole buffer (a reader that reused it would overwrite a straddling block).
    const lines = Array.from({ length: 5000 }, (_, i) => JSON.stringify({ text: `${i} ${randomBytes(2000).toString("hex")}` }));
    const text = lines.join("\n") + "\n";
    const { dir, cacheDir, file } = setup("big.jsonl.zst", compress(text, ["-1"]));
    expect(fs.statSync(file).size).toBeGreaterThan(2 * (4 << 20));
    const src = asSync(await openSource(spec("big.jsonl.zst"), { baseDir: dir, cacheDir }));
    expect(src.numDocuments).toBe(5000);
    src.close();
    expect(fs.readFileSync(path.join(cacheDir, fs.readdirSync(cacheDir)[0]), "utf8") === text).toBe(true);
  });

  it("reads .json.zst and .json.gz as JSON lines", async () => {
    const text = jsonl(20);
    for (const [name, bytes] of [
      ["d.json.zst", compress(text)],
      ["d.json.gz", zstdCli("zstd", ["-q", "-c", "--format=gzip"], Buffer.from(text))],
    ] as const) {
      const { dir, cacheDir } = setup(name, bytes);
      const src = asSync(await openSource(spec(name), { baseDir: dir, cacheDir }));
      expect(readAll(src).map((d) => (d.kind === "text" ? d.text : d.kind))).toEqual(
        text
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l).text),
      );
      expect(src.info?.format).toBe(name.endsWith(".zst") ? "jsonl.zst" : "jsonl.gz");
      src.close();
    }
  });

  it.each([
    ["truncated mid-block", (b: Buffer) => b.subarray(0, Math.floor(b.length / 2)), /truncated/],
    ["truncated before the checksum", (b: Buffer) => b.subarray(0, b.length - 2), /truncated/],
    ["corrupted", (b: Buffer) => Buffer.from(b).fill(0x17, Math.floor(b.length / 2), Math.floor(b.length / 2) + 4), /corrupt zstd frame at byte 0/],
    ["not zstd at all", () => Buffer.from('{"text": "plain"}\n'), /not a zstd frame at byte 0/],
    ["empty", () => Buffer.alloc(0), /empty file/],
  ])("rejects a %s file as bad_format naming the .zst, leaving no cache file", async (_, damage, message) => {
    const { dir, cacheDir, file } = setup("t.jsonl.zst", damage(compress(jsonl(2000))));
    const err = await openSource(spec("t.jsonl.zst"), { baseDir: dir, cacheDir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataError);
    expect(err).toMatchObject({ reason: "bad_format", file });
    expect((err as Error).message).toMatch(message);
    expect(fs.readdirSync(cacheDir)).toEqual([]);
  });
});
