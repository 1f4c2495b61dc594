import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Lists the MIXLOAD_SKIP_* opt-outs in effect at the end of the run (no silent skips).
    globalSetup: ["test/helpers/opt-outs.ts"],
  },
});
