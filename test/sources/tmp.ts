/** A temp directory per test file, removed afterwards. */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll } from "vitest";
import { isSyncSource, type DocumentSource, type SyncSource } from "../../src/sources/types.js";

export function tempDir(): (name: string) => string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mixload-sources-"));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  // A fresh path under the temp dir; the counter keeps property-test runs apart.
  return (name: string) => path.join(dir, `${n++}-${name}`);
}

/** Every document of a source, in order. */
export function readAll<T>(source: { numDocuments: number; read(i: number): T }): T[] {
  return Array.from({ length: source.numDocuments }, (_, i) => source.read(i));
}

/** `openSource` returns either kind; the local line/token formats are synchronous. */
export function asSync(source: DocumentSource): SyncSource {
  if (!isSyncSource(source)) throw new Error(`${source.description} is not a synchronous source`);
  return source;
}
