/**
 * `mixload batches`: build N steps and print one digest line per step. The resume contract in
 * one command: 100 steps == 50 steps + --save-state, then --resume for 50, line for line.
 */
import { batchDigest } from "../batch/assemble.js";
import { readStateFile, ResumeMismatchError, StateBlobError, writeStateFile } from "../loader/state-blob.js";
import type { LoaderState } from "../loader/loader.js";
import type { MixerState } from "../../mixers/contract.js";
import { openRun } from "./common.js";

export interface RunState {
  loader: LoaderState;
  mixer: { name: string; state: MixerState };
}

export interface BatchesOptions {
  config: string;
  steps: number;
  saveState?: string;
  resume?: string;
  digest?: boolean;
  workers?: number;
}

export async function batchesCommand(options: BatchesOptions): Promise<void> {
  const { loader, mixer } = await openRun(options.config, { workers: options.workers });
  try {
    if (options.resume !== undefined) {
      const state = readStateFile(options.resume) as Partial<RunState> | null;
      if (state === null || typeof state !== "object" || typeof state.loader !== "object" || typeof state.mixer?.name !== "string") {
        throw new StateBlobError(options.resume, "not a state of `mixload batches --save-state` or `serve` (no loader and mixer state in it)");
      }
      if (state.mixer.name !== mixer.name)
        throw new ResumeMismatchError(`${options.resume} was saved with mixer ${state.mixer.name}, the config has ${mixer.name}`);
      await loader.restore(state.loader);
      mixer.restore(state.mixer.state);
    }
    const end = loader.step + options.steps;
    while (loader.step < end) {
      const step = loader.step;
      const batch = await loader.next(mixer.weights(step));
      if (batch === null) {
        process.stderr.write(`mixload: data exhausted at step ${step}\n`);
        break;
      }
      if (options.digest) process.stdout.write(`${step} ${batchDigest(batch)}\n`);
    }
    if (!options.digest) process.stdout.write(`${JSON.stringify(loader.stats())}\n`);
    if (options.saveState !== undefined) {
      const state: RunState = { loader: loader.state(), mixer: { name: mixer.name, state: mixer.state() } };
      writeStateFile(options.saveState, state);
    }
  } finally {
    await loader.close();
  }
}
