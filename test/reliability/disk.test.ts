/**
 * Disk faults: atomic writes, truncated or corrupted state blobs, an unwritable run directory,
 * and a disk that fills up mid-run. Serving state lives in memory and in the state blob; a
 * failing disk may cost log lines (reported), never a wrong batch or a half-written file.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MixloadClient } from "../../src/client/client.js";
import { loadConfig } from "../../src/config/load.js";
import { decodeStateBlob } from "../../src/loader/state-blob.js";
import { MixloadService, type ProgressEvent } from "../../src/serve/service.js";
import { writeFileAtomic } from "../../src/util/atomic-file.js";
import { ConfigError } from "../../src/util/errors.js";
import { tempDir, train, writeConfig, writeCorpus, type Corpus } from "./harness.js";

const dir = tempDir();
let corpus: Corpus;
let config: string;
const services: MixloadService[] = [];
const clients: MixloadClient[] = [];

beforeAll(() => {
  corpus = writeCorpus(dir, [40, 30, 30], 250);
  config = writeConfig(dir, corpus, "disk");
});

afterAll(async () => {
  for (const c of clients) c.close();
  for (const s of services) await s.close({ writeState: false });
});

async function open(runDir: string, events: ProgressEvent[] = [], resume?: Uint8Array): Promise<{ service: MixloadService; c: MixloadClient }> {
  const name = path.basename(runDir);
  const service = await MixloadService.open(
    loadConfig(config),
    { runDir, resume, control: `ipc://${dir}/${name}-c.sock`, weights: `ipc://${dir}/${name}-w.sock` },
    (e) => events.push(e),
  );
  services.push(service);
  const c = new MixloadClient({ endpoint: service.controlEndpoint, timeoutMs: 20_000, notReadyWaitMs: 20_000 });
  clients.push(c);
  return { service, c };
}

/** A state blob's content but for the run id (two services of one config get different ids). */
function stateContent(blob: Uint8Array): unknown {
  const s = decodeStateBlob(blob) as Record<string, unknown>;
  delete s.run_id;
  return s;
}

/** A tiny tmpfs when this process may mount one (root, Linux); null otherwise. */
function tinyTmpfs(kb: number): string | null {
  if (process.platform !== "linux" || process.getuid?.() !== 0 || process.env.MIXLOAD_TEST_NO_TMPFS === "1") return null;
  const mnt = fs.mkdtempSync(path.join(dir, "tmpfs-"));
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${kb}k`, "tmpfs", mnt]);
  return r.status === 0 ? mnt : null;
}

describe("atomic writes", () => {
  it("a failed write leaves the old file whole and no temporary behind", () => {
    const target = path.join(dir, "atomic", "state.bin");
    fs.mkdirSync(path.dirname(target), { recursive: true });
    writeFileAtomic(target, "old");
    // The rename cannot land (a folder sits where the temp's target would be renamed to): the write fails late.
    const blocked = path.join(dir, "atomic", "blocked");
    fs.mkdirSync(path.join(blocked, "x"), { recursive: true });
    expect(() => writeFileAtomic(blocked, Buffer.alloc(1 << 16))).toThrow();
    expect(fs.readdirSync(path.dirname(target)).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    expect(fs.readFileSync(target, "utf8")).toBe("old");
  });
});

describe("state blobs", () => {
  let blob: Uint8Array;

  beforeAll(async () => {
    const { c } = await open(path.join(dir, "blob-run"));
    await train(c, 0, 3);
    blob = (await c.state()).state;
  });

  it("every truncation and every single-byte corruption is refused (checksum), before anything is loaded", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.nat({ max: blob.length - 1 }).map((n) => ({ what: `truncated to ${n} bytes`, bytes: blob.slice(0, n) })),
          fc.tuple(fc.nat({ max: blob.length - 1 }), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
            const b = Uint8Array.from(blob);
            b[i] ^= x;
            return { what: `byte ${i} ^ ${x}`, bytes: b };
          }),
          fc.uint8Array({ minLength: 1, maxLength: 2000 }).map((bytes) => ({ what: "noise", bytes: Uint8Array.from([0x4d, 0x49, 0x58, ...bytes]) })),
        ),
        async ({ what, bytes }) => {
          const e = await MixloadService.open(loadConfig(config), { resume: bytes, runDir: path.join(dir, "never") }).catch((x: unknown) => x);
          expect(e, what).toBeInstanceOf(Error);
          expect((e as Error).name, what).toBe("StateBlobError");
          expect((e as Error).message).toMatch(/checksum mismatch|not a mixload state blob|state format version/);
        },
      ),
      { numRuns: 200, seed: 5 },
    );
    expect(fs.existsSync(path.join(dir, "never"))).toBe(false); // refused before touching the run dir
  });

  it("a state file that cannot be read is refused naming the file", async () => {
    const e = await MixloadService.open(loadConfig(config), { resume: path.join(dir, "no-such-state.bin") }).catch((x: unknown) => x);
    expect((e as Error).message).toMatch(/no-such-state\.bin.*cannot read/);
  });
});

describe("run directory", () => {
  it("an unwritable run directory is a clear config error at start", async () => {
    const file = path.join(dir, "a-file");
    fs.writeFileSync(file, "");
    const e = await MixloadService.open(loadConfig(config), { runDir: path.join(file, "run") }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as Error).message).toMatch(/^config serve\.run_dir: the run directory .*a-file\/run is not writable: ENOTDIR/);
  });

  it("the disk fills mid-run: one clear warning, whole lines only, batches and state unaffected, final state.bin refused cleanly", async () => {
    // Reference: the same training on a healthy disk.
    const { c: ref, service: refService } = await open(path.join(dir, "healthy"));
    const expected = await train(ref, 0, 10);
    const refBlob = stateContent((await ref.state()).state);
    expect(refService.runDir).toBe(path.join(dir, "healthy"));

    // The full disk: a tiny tmpfs filled up (root), else schedule.jsonl pointing at /dev/full (ENOSPC on write).
    const mnt = tinyTmpfs(64);
    const runDir = mnt !== null ? path.join(mnt, "run") : path.join(dir, "full");
    fs.mkdirSync(runDir, { recursive: true });
    if (mnt === null) fs.symlinkSync("/dev/full", path.join(runDir, "schedule.jsonl"));
    const events: ProgressEvent[] = [];
    try {
      const { c, service } = await open(runDir, events);
      const got = await train(c, 0, 3);
      if (mnt !== null) {
        // Fill the disk (the run log so far stays).
        const fd = fs.openSync(path.join(mnt, "filler"), "w");
        try {
          for (;;) fs.writeSync(fd, Buffer.alloc(4096, 1));
        } catch (e) {
          expect((e as NodeJS.ErrnoException).code).toBe("ENOSPC");
        } finally {
          fs.closeSync(fd);
        }
      }
      got.push(...(await train(c, 3, 10)));
      expect(got).toEqual(expected);
      expect(stateContent((await c.state()).state)).toEqual(refBlob);
      const warnings = events.filter((e) => e.event === "warning" && /run log: cannot write/.test(e.message ?? ""));
      expect(warnings.length).toBe(1);
      expect(warnings[0].message).toMatch(/schedule\.jsonl at (step \d+|weights version \d+): ENOSPC.*serving continues/);
      if (mnt !== null) {
        const lines = fs.readFileSync(path.join(runDir, "schedule.jsonl"), "utf8");
        expect(lines === "" || lines.endsWith("\n")).toBe(true);
        for (const l of lines.trim().split("\n").filter(Boolean)) expect(() => JSON.parse(l)).not.toThrow();
      }
      // Shutdown wants state.bin: refused with a warning, no temp file left, close() completes.
      services.splice(services.indexOf(service), 1);
      if (mnt === null) fs.mkdirSync(path.join(runDir, "state.bin")); // /dev/full covers the log only; make state.bin unwritable too
      expect(await service.close()).toBe(null);
      expect(events.some((e) => e.event === "warning" && /could not write the final state/.test(e.message ?? ""))).toBe(true);
      expect(fs.readdirSync(runDir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    } finally {
      if (mnt !== null) spawnSync("umount", ["-l", mnt]);
    }
  });
});
