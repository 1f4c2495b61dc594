import * as fs from "node:fs";
import fc from "fast-check";
import { expect, it } from "vitest";
import { scanLines } from "../../src/sources/lines.js";
import { tempDir } from "./tmp.js";

const tmp = tempDir();

it("finds the same lines as a naive split, whatever the chunk size", async () => {
  const text = fc.array(fc.constantFrom("a", "é", " ", "\t", "\r", "\n", "\n\n", "{}"), { maxLength: 60 }).map((p) => p.join(""));
  await fc.assert(
    fc.asyncProperty(text, fc.integer({ min: 1, max: 9 }), async (content, chunk) => {
      const file = tmp("lines.txt");
      fs.writeFileSync(file, content);
      const bytes = Buffer.from(content);
      const expected: [string, number, boolean][] = [];
      let start = 0;
      bytes
        .toString("latin1")
        .split("\n")
        .forEach((l, i, all) => {
          if (i < all.length - 1 || l.length > 0) expected.push([bytes.subarray(start, start + l.length).toString(), i + 1, l.trim() === ""]);
          start += l.length + 1;
        });
      const got: [string, number, boolean][] = [];
      const fd = fs.openSync(file, "r");
      await scanLines(fd, (s, e, line, blank) => got.push([bytes.subarray(s, e).toString(), line, blank]), chunk);
      fs.closeSync(fd);
      expect(got).toEqual(expected);
    }),
    { numRuns: 300 },
  );
});
