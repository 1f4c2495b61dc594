/**
 * The mixer layer's boundary (mixers/README.md, "Layering"): src/ depends on mixers/, never the
 * reverse, and the contract depends on nothing. A mixer can then be built, tested or replayed
 * without any of src/.
 */
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import { ConfigError } from "../../mixers/contract.js";
import { ConfigError as SrcConfigError } from "../../src/util/errors.js";

const dir = fileURLToPath(new URL("../../mixers/", import.meta.url));
const imports = (file: string) => [...readFileSync(dir + file, "utf8").matchAll(/^(?:import|export)[^;]*? from "([^"]+)"/gms)].map((m) => m[1]);

it("no file in mixers/ imports from src/ (only zod, mathjs, node: and siblings)", () => {
  for (const f of readdirSync(dir).filter((n) => n.endsWith(".ts"))) {
    for (const spec of imports(f)) expect(`${f}: ${spec}`).toMatch(/: (\.\/[\w-]+\.js|zod|mathjs|node:[\w/]+)$/);
  }
});

it("the contract imports nothing", () => {
  expect(imports("contract.ts")).toEqual([]);
});

it("src/util/errors' ConfigError is the contract's (one class, so instanceof holds on both sides)", () => {
  expect(SrcConfigError).toBe(ConfigError);
});
