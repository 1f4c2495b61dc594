/**
 * Reading a config file: parse JSON, validate with the schema, resolve relative paths
 * against the config file's folder (so `examples/configs/brown.json` runs from anywhere).
 */
import fs from "node:fs";
import path from "node:path";
import type { z } from "zod";
import { ConfigError } from "../util/errors.js";
import { configSchema, type Config } from "./schema.js";

/** A validated config plus the folder its relative paths are resolved against. */
export interface LoadedConfig {
  readonly config: Config;
  readonly baseDir: string;
  /** The config file, when it came from one (for error messages and run logs). */
  readonly file?: string;
}

/** `domains[2].sources[0].path` from zod's path array. */
export function formatPath(p: readonly PropertyKey[]): string {
  let out = "";
  for (const key of p) out += typeof key === "number" ? `[${key}]` : `${out === "" ? "" : "."}${String(key)}`;
  return out === "" ? "(root)" : out;
}

function firstIssue(error: z.ZodError, where: string): ConfigError {
  const issue = error.issues[0];
  const extra = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more problem${error.issues.length > 2 ? "s" : ""})` : "";
  const all = error.issues.map((i) => `  ${formatPath(i.path)}: ${i.message}`).join("\n");
  const e = new ConfigError(formatPath(issue.path), `${issue.message}${extra} in ${where}${error.issues.length > 1 ? `\n${all}` : ""}`);
  return e;
}

export function parseConfig(value: unknown, baseDir: string, where = "config"): LoadedConfig {
  const result = configSchema.safeParse(value);
  if (!result.success) throw firstIssue(result.error, where);
  const config = result.data;
  const resolve = (p: string): string => path.resolve(baseDir, p);
  config.tokenizer.path = resolve(config.tokenizer.path);
  if (config.tokenizer.config !== undefined) config.tokenizer.config = resolve(config.tokenizer.config);
  if (config.cache_dir !== undefined) config.cache_dir = resolve(config.cache_dir);
  return { config, baseDir };
}

export function loadConfig(file: string): LoadedConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new ConfigError("(file)", `cannot read ${file}: ${(e as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ConfigError("(root)", `${file} is not valid JSON: ${(e as Error).message}`);
  }
  return { ...parseConfig(value, path.dirname(path.resolve(file)), file), file: path.resolve(file) };
}
