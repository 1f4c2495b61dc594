/**
 * Process-level plumbing every command shares, kept free of heavy imports so `mixload <cmd>`
 * loads only what that command needs (main.ts imports commands lazily).
 */
import { ConfigError, DataError } from "../util/errors.js";

/** Run a command body: the user's errors (config, data, state blob, a state from another run) print as one line; others with their stack. Exit code 1. */
export async function runCommand(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    const error = e as Error;
    // By name for the state errors: they may come back from the builder thread, and importing their modules here would load the loader for every command.
    const known = error instanceof ConfigError || error instanceof DataError || error.name === "StateBlobError" || error.name === "ResumeMismatchError";
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
