#!/usr/bin/env node
/**
 * The npm registry mirror this project builds from lacks some platform builds of msgpackr's
 * optional native helper (darwin, win32, linux-arm). `npm install` then writes a lock file
 * without them, and `npm ci` refuses that lock ("Missing: … from lock file"). This adds the
 * missing entries back (optional, os/cpu-gated, so they are never fetched on other platforms).
 * Run it after any `npm install` that rewrites package-lock.json.
 */
import fs from "node:fs";

const file = new URL("../package-lock.json", import.meta.url);
const lock = JSON.parse(fs.readFileSync(file, "utf8"));
const parent = lock.packages["node_modules/msgpackr-extract"];
let added = 0;
for (const [name, version] of Object.entries(parent?.optionalDependencies ?? {})) {
  const key = `node_modules/${name}`;
  if (lock.packages[key] !== undefined) continue;
  const platform = name.split("/").pop().replace("msgpackr-extract-", "");
  const [os, cpu] = platform.split("-");
  const base = name.split("/").pop();
  lock.packages[key] = {
    version,
    resolved: `https://registry.npmjs.org/${name}/-/${base}-${version}.tgz`,
    cpu: [cpu],
    license: "MIT",
    optional: true,
    os: [os],
  };
  added += 1;
}
const sorted = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a < b ? -1 : a > b ? 1 : 0)));
lock.packages = sorted;
fs.writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`fix-lock: added ${added} missing optional entr${added === 1 ? "y" : "ies"}`);
