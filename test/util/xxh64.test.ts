import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Xxh64 } from "../../src/util/xxh64.js";

function hex(parts: Uint8Array[]): string {
  const x = new Xxh64();
  for (const p of parts) x.update(p);
  return x
    .digest()
    .map((w) => w.toString(16).padStart(8, "0"))
    .join("");
}
const utf8 = (s: string) => new TextEncoder().encode(s);

describe("XXH64", () => {
  it("matches the reference digests (python-xxhash's README, xxhsum)", () => {
    expect(hex([utf8("")])).toBe("ef46db3751d8e999");
    expect(hex([utf8("a")])).toBe("d24ec4f1a98c6e5b");
    expect(hex([utf8("abc")])).toBe("44bc2cf5ad770999");
    expect(hex([utf8("Nobody inspects the spammish repetition")])).toBe("fbcea83c8a378bf1");
  });

  it("gives the same digest however the input is split across updates", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(300), { maxLength: 6 }), (bytes, cuts) => {
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const bounds = [0, ...points, bytes.length];
        const parts = bounds.slice(1).map((end, i) => bytes.subarray(bounds[i], end));
        expect(hex(parts)).toBe(hex([bytes]));
      }),
    );
  });
});
