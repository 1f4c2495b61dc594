import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { MegatronWriter, openSource, sourceSpecSchema } from "../../src/sources/index.js";
import { DataError } from "../../src/util/errors.js";
import { asSync, readAll, tempDir } from "./tmp.js";

const tmp = tempDir();

describe("sourceSpecSchema", () => {
  it("fills defaults", () => {
    expect(sourceSpecSchema.parse({ type: "jsonl", path: "a.jsonl" })).toEqual({ type: "jsonl", path: "a.jsonl", field: "text", metadata: [] });
    expect(sourceSpecSchema.parse({ type: "text", path: "docs" })).toEqual({
      type: "text",
      path: "docs",
      glob: "**/*",
      split: "file",
      transform: "none",
    });
  });

  it.each([
    [{ type: "nanogpt", path: "x.bin" }, "eos_id"],
    [{ type: "nanogpt", path: "x.bin", eos_id: 70_000 }, "eos_id"],
    [{ type: "jsonl", path: "a", feild: "body" }, "feild"],
    [{ type: "text", path: "d", split: "sentence" }, "split"],
    [{ type: "csv", path: "x" }, "type"],
    [{ type: "parquet", path: "x", window: 0 }, "window"],
    [{ type: "arrow", path: "x", metadata: "score" }, "metadata"],
    [{ type: "megatron", path: "" }, "path"],
  ])("rejects %j, naming %s", (spec, field) => {
    const r = sourceSpecSchema.safeParse(spec);
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toContain(field);
  });
});

describe("openSource", () => {
  const dir = tmp("base");
  fs.mkdirSync(path.join(dir, "texts"), { recursive: true });
  fs.writeFileSync(path.join(dir, "a.jsonl"), '{"body": "hello"}\n');
  fs.writeFileSync(path.join(dir, "texts", "t.txt"), "one\n\ntwo\n");
  fs.writeFileSync(path.join(dir, "n.bin"), Uint16Array.from([5, 6, 0, 7]));
  const w = new MegatronWriter(path.join(dir, "m"), { vocabSize: 10 });
  w.add(Int32Array.from([1, 2]));
  w.finish();

  it.each([
    [{ type: "jsonl", path: "a.jsonl", field: "body" }, [{ kind: "text", text: "hello" }]],
    [
      { type: "text", path: "texts", split: "paragraph" },
      [
        { kind: "text", text: "one" },
        { kind: "text", text: "two" },
      ],
    ],
    [{ type: "megatron", path: "m" }, [{ kind: "tokens", tokens: Int32Array.from([1, 2]) }]],
    [
      { type: "nanogpt", path: "n.bin", eos_id: 0 },
      [
        { kind: "tokens", tokens: Int32Array.from([5, 6, 0]) },
        { kind: "tokens", tokens: Int32Array.from([7]) },
      ],
    ],
  ])("opens %j relative to baseDir", async (spec, expected) => {
    const src = await openSource(sourceSpecSchema.parse(spec), { baseDir: dir });
    expect(readAll(asSync(src))).toEqual(expected);
    src.close();
  });

  it.each([
    { type: "jsonl", path: "missing.jsonl" },
    { type: "jsonl", path: "missing.jsonl.gz" },
    { type: "text", path: "no-such-dir" },
    { type: "megatron", path: "missing" },
    { type: "nanogpt", path: "missing.bin", eos_id: 0 },
    { type: "jsonl", path: "texts" },
  ])("throws unreadable_file for %j, naming the resolved path", async (spec) => {
    const err = await openSource(sourceSpecSchema.parse(spec), { baseDir: dir, cacheDir: tmp("cache") }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataError);
    expect(err).toMatchObject({ reason: "unreadable_file" });
    expect((err as DataError).file.startsWith(path.join(dir, spec.path))).toBe(true);
  });
});
