/**
 * vitest globalSetup: at the end of the run, say which tests were skipped on purpose and why.
 *
 * A suite whose tool is missing fails naming the install command; the only way to skip one is
 * an explicit MIXLOAD_SKIP_<WHAT>=1. Those lines scroll away in a long run, so the run's last
 * lines repeat every opt-out in effect (and any MIXLOAD_SKIP_* variable that skips nothing).
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";

interface OptOut {
  skips: string;
  /** Whether the tool is actually here, so the summary says if the tests could have run. */
  present: () => boolean;
  install: string;
}

const has = (file: string): boolean => {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

const OPT_OUTS: Record<string, OptOut> = {
  MIXLOAD_SKIP_BROWSER: {
    skips: "the browser tests (report page and live dashboard in headless Chromium)",
    present: () => has(process.env.MIXLOAD_CHROMIUM ?? "/usr/bin/chromium"),
    install: "apt-get install -y chromium",
  },
  MIXLOAD_SKIP_PYTHON: {
    skips: "the Python client and PyTorch example tests",
    present: () => {
      try {
        execFileSync("/usr/bin/python3", ["-c", "import zmq, msgpack, numpy, torch"], { stdio: "ignore", timeout: 120_000 });
        return true;
      } catch {
        return false;
      }
    },
    install: "apt-get install -y python3-zmq python3-msgpack python3-numpy python3-torch libopenblas0-pthread",
  },
};

function summary(env: NodeJS.ProcessEnv): string[] {
  const lines: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith("MIXLOAD_SKIP_") || value === undefined) continue;
    const known = OPT_OUTS[name];
    if (known === undefined) lines.push(`${name}=${value} is not an opt-out mixload knows; it skipped nothing (known: ${Object.keys(OPT_OUTS).join(", ")})`);
    else if (value !== "1") lines.push(`${name}=${value} skipped nothing: only ${name}=1 opts out`);
    else {
      const tool = known.present() ? "the tool is installed, so they could have run" : `to run them: ${known.install} (or \`npm run setup\`)`;
      lines.push(`${name}=1 skipped ${known.skips}: you asked for it; ${tool}`);
    }
  }
  return lines;
}

export default function setup(): () => void {
  return () => {
    const lines = summary(process.env);
    if (lines.length > 0)
      process.stdout.write(`\nMIXLOAD_SKIP_* in effect (what they skip did not run, so did not pass):\n${lines.map((l) => `  ${l}\n`).join("")}`);
  };
}
