/** Shared CLI plumbing: open a config's loader and mixer, report errors cleanly. */
import { loadConfig, type LoadedConfig } from "../config/load.js";
import { Loader } from "../loader/loader.js";
import { createMixer } from "../../mixers/registry.js";
import type { DomainInfo, Mixer } from "../../mixers/types.js";
import { ConfigError, DataError } from "../util/errors.js";

export interface Opened {
  readonly loaded: LoadedConfig;
  readonly loader: Loader;
  readonly mixer: Mixer;
}

export async function openRun(configFile: string, options: { workers?: number } = {}): Promise<Opened> {
  const loaded = loadConfig(configFile);
  const loader = await Loader.open(loaded, options);
  try {
    const domains: DomainInfo[] = await loader.domainInfo();
    const mixer = createMixer(loaded.config.mixer, domains);
    return { loaded, loader, mixer };
  } catch (e) {
    await loader.close();
    throw e;
  }
}

/** Run a command body; user errors (config, data, state) print one clear line and exit 1. */
export async function runCommand(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    const error = e as Error;
    const known = error instanceof ConfigError || error instanceof DataError || error.name === "StateBlobError";
    process.stderr.write(`mixload: ${known ? error.message : (error.stack ?? String(error))}\n`);
    process.exitCode = 1;
  }
}

/** Resolves on the first SIGINT or SIGTERM (long-running commands then shut down cleanly). */
export function untilSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}
