import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CapacityTree } from "../../src/pack/segment-tree.js";

type Op = { kind: "insert" | "remove" | "query"; value: number };

const scenario = fc.integer({ min: 0, max: 300 }).chain((maxValue) =>
  fc.record({
    maxValue: fc.constant(maxValue),
    ops: fc.array(
      fc.record({
        kind: fc.constantFrom<Op["kind"]>("insert", "insert", "remove", "query"),
        // queries may ask for more than maxValue (answer: -1)
        value: fc.integer({ min: 0, max: maxValue + 2 }),
      }),
      { maxLength: 400 },
    ),
  }),
);

describe("CapacityTree", () => {
  it("answers like a linear scan over a multiset, for any sequence of operations", () => {
    fc.assert(
      fc.property(scenario, ({ maxValue, ops }) => {
        const tree = new CapacityTree(maxValue);
        const model = new Int32Array(maxValue + 1);
        let size = 0;
        const scanMinAtLeast = (x: number): number => {
          for (let v = Math.max(0, x); v <= maxValue; v++) if (model[v] > 0) return v;
          return -1;
        };
        for (const { kind, value } of ops) {
          if (kind === "query") {
            expect(tree.findMinAtLeast(value)).toBe(scanMinAtLeast(value));
            continue;
          }
          if (value > maxValue) {
            expect(() => (kind === "insert" ? tree.insert(value) : tree.remove(value))).toThrow(RangeError);
            continue;
          }
          if (kind === "insert") {
            tree.insert(value);
            model[value]++;
            size++;
          } else if (model[value] === 0) {
            expect(() => tree.remove(value)).toThrow(RangeError);
          } else {
            tree.remove(value);
            model[value]--;
            size--;
          }
          expect(tree.size).toBe(size);
          expect(tree.count(value)).toBe(model[value]);
          let max = -1;
          for (let v = maxValue; v >= 0; v--)
            if (model[v] > 0) {
              max = v;
              break;
            }
          expect(tree.max()).toBe(max);
        }
        // clear() empties it, and it behaves as new afterwards.
        tree.clear();
        expect(tree.size).toBe(0);
        expect(tree.max()).toBe(-1);
        expect(tree.findMinAtLeast(0)).toBe(-1);
        for (let v = 0; v <= maxValue; v++) expect(tree.count(v)).toBe(0);
        tree.insert(maxValue);
        expect(tree.findMinAtLeast(0)).toBe(maxValue);
      }),
      { numRuns: 300 },
    );
  });

  it("rejects a maxValue that is not a non-negative integer", () => {
    expect(() => new CapacityTree(-1)).toThrow(RangeError);
    expect(() => new CapacityTree(2.5)).toThrow(RangeError);
  });
});
