import { describe, expect, it } from "vitest";
import { benchPacking } from "../../bench/pack.js";

describe("benchPacking (smoke: figures are sane, no timing asserted)", () => {
  it("cuts only what must be cut and fills nearly every row", () => {
    const r = benchPacking({ buffers: 3, bufferDocs: 512 });
    expect(r.documents).toBe(1536);
    expect(r.truncations).toBe(r.minTruncations);
    expect(r.truncations).toBeGreaterThan(0);
    expect(r.fillRate).toBeGreaterThan(0.98);
    expect(r.fillRate).toBeLessThanOrEqual(1);
    expect(r.tokensPerSecond).toBeGreaterThan(0);
  });
});
