/** What counts as a changed file on resume: size, ETag, Last-Modified — not a local mtime alone. */
import { describe, expect, it } from "vitest";
import { describeIdentityChange, filesIdentity } from "../../src/sources/identity.js";

describe("describeIdentityChange", () => {
  it("ignores a local file's mtime (a copied dataset), and names a size change", () => {
    expect(describeIdentityChange("size=10;mtime=1", "size=10;mtime=2", "/d/a.jsonl")).toBeUndefined();
    expect(describeIdentityChange("size=10;mtime=1", "size=12;mtime=1", "/d/a.jsonl")).toBe("/d/a.jsonl changed: size 10 → 12");
  });

  it("names the file of a multi-file source that changed, and files added or gone", () => {
    const was = filesIdentity([
      { name: "a.parquet", identity: "size=1;mtime=5" },
      { name: "b.parquet", identity: 'etag="x";last_modified=Mon;size=2' },
    ]);
    const now = filesIdentity([
      { name: "a.parquet", identity: "size=1;mtime=9" },
      { name: "b.parquet", identity: 'etag="y";last_modified=Mon;size=2' },
      { name: "c.parquet", identity: "size=3;mtime=1" },
    ]);
    expect(describeIdentityChange(was, now, "data/*.parquet")).toBe('b.parquet changed: etag "x" → "y"; c.parquet is new in the source');
  });
});
