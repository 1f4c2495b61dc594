/** Open a config's loader and mixer (the commands that build batches in-process). */
import { loadConfig, type LoadedConfig } from "../config/load.js";
import { Loader } from "../loader/loader.js";
import { createMixer } from "../../mixers/registry.js";
import type { DomainInfo, Mixer } from "../../mixers/contract.js";

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
