/**
 * Remote domains in the whole loader, against a real nginx: the same batches (digest for digest)
 * as the same files read locally, a resume over unchanged remote files continues identically, and
 * a resume over a file replaced on the server is refused in one line naming it and what changed.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Loader, type LoaderState } from "../../src/loader/loader.js";
import { batchDigest, type Batch } from "../../src/batch/assemble.js";
import { decodeStateBlob, encodeStateBlob } from "../../src/loader/state-blob.js";
import { MegatronWriter } from "../../src/sources/megatron.js";
import { brownParagraphs, loaded, smallBrownConfig, tempDir } from "../helpers/fixtures.js";
import { startNginx, type Nginx } from "../helpers/nginx.js";

const root = tempDir("mixload-remote-loader-");
let nginx: Nginx;

/** Two domains: Brown paragraphs as JSONL, random token documents as Megatron; `at` is a directory or a URL. */
function config(at: string): Record<string, unknown> {
  return smallBrownConfig({
    cache_dir: path.join(root, "cache"),
    domains: [
      { name: "news", sources: [{ type: "jsonl", path: `${at}/news.jsonl` }] },
      { name: "tokens", sources: [{ type: "megatron", path: `${at}/tokens` }] },
    ],
  });
}

async function digests(loader: Loader, steps: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < steps; i++) out.push(batchDigest((await loader.next([0.6, 0.4])) as Batch));
  return out;
}

beforeAll(async () => {
  const paragraphs = await brownParagraphs("ca0[1-3]");
  fs.writeFileSync(path.join(root, "news.jsonl"), paragraphs.map((text) => JSON.stringify({ text })).join("\n") + "\n");
  const w = new MegatronWriter(path.join(root, "tokens"), { vocabSize: 100_000 });
  for (let d = 0; d < 300; d++) w.add(Int32Array.from({ length: 20 + ((d * 37) % 180) }, (_, t) => (d * 7919 + t * 104729) % 100_000));
  w.finish();
  nginx = await startNginx(root);
}, 30_000);

afterAll(async () => {
  await nginx?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

describe("remote domains in the loader", () => {
  it("give the same batches as the same files read locally", async () => {
    const local = await Loader.open(loaded(config(root)), { workers: 0 });
    const remote = await Loader.open(loaded(config(nginx.url)), { workers: 0 });
    try {
      expect(await digests(remote, 12)).toEqual(await digests(local, 12));
    } finally {
      await local.close();
      await remote.close();
    }
  });

  it("resume over unchanged remote files continues identically; over a replaced file it is refused", async () => {
    const whole = await Loader.open(loaded(config(nginx.url)), { workers: 0 });
    const expected = await digests(whole, 10);
    await whole.close();

    const first = await Loader.open(loaded(config(nginx.url)), { workers: 0 });
    await digests(first, 5);
    const blob = encodeStateBlob(first.state());
    await first.close();

    const second = await Loader.open(loaded(config(nginx.url)), { workers: 0 });
    await second.restore(decodeStateBlob(blob) as LoaderState);
    expect(await digests(second, 5)).toEqual(expected.slice(5));
    await second.close();

    // A re-upload: one more document, a new mtime (nginx's ETag is mtime-size).
    const file = path.join(root, "news.jsonl");
    fs.appendFileSync(file, `${JSON.stringify({ text: "a late addition" })}\n`);
    fs.utimesSync(file, 4_000_000, 4_000_000);
    const third = await Loader.open(loaded(config(nginx.url)), { workers: 0 });
    try {
      const err = await third.restore(decodeStateBlob(blob) as LoaderState).catch((e: Error) => e);
      expect(String(err)).toMatch(
        new RegExp(
          `^ResumeMismatchError: cannot resume: the data changed since the state was saved \\(${nginx.url}/news\\.jsonl changed: etag "[^"]+" → "[^"]+", last_modified .+ → .+, size \\d+ → \\d+\\); the saved positions would address other documents$`,
        ),
      );
    } finally {
      await third.close();
    }
  });
});
