/**
 * The browser tests' headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core).
 *
 * No silent skips: when Chromium cannot start, a test that needs it fails naming the install
 * command. Only an explicit MIXLOAD_SKIP_BROWSER=1 skips those tests; their titles say so, and
 * the run's end lists the opt-out (test/helpers/opt-outs.ts). Tests of the same files that need
 * no browser (e.g. `serve --http`) run either way.
 */
import fs from "node:fs";
import { it, type TestFunction } from "vitest";
import { CHROMIUM, launchChromium, type Browser } from "../../src/report/browser.js";

export const SKIP_BROWSER_ENV = "MIXLOAD_SKIP_BROWSER";
export const skipBrowser: boolean = process.env[SKIP_BROWSER_ENV] === "1";
export const CHROMIUM_INSTALL = "apt-get install -y chromium";

/** Why Chromium cannot run here, with the fix; undefined when the binary is there (a failed launch then throws its own error). */
export function chromiumMissing(): string | undefined {
  try {
    fs.accessSync(CHROMIUM, fs.constants.X_OK);
    return undefined;
  } catch {
    return `headless Chromium (${CHROMIUM}) is needed: ${CHROMIUM_INSTALL} (as root; or \`npm run setup\`)`;
  }
}

/** Launch Chromium for a test file's tests, or null when they are opted out or it is not there (then needBrowser names the fix). */
export async function openBrowser(): Promise<Browser | null> {
  // Checked here, not only by launchChromium (which asks whether the file exists): a file that
  // is there but not executable would otherwise fail the whole file with a bare EACCES.
  return skipBrowser || chromiumMissing() !== undefined ? null : launchChromium();
}

/** The browser, or a failure that names what to install (and the opt-out). */
export function needBrowser(browser: Browser | null): Browser {
  if (browser !== null) return browser;
  const why = chromiumMissing() ?? "playwright-core could not be loaded: run `npm ci`";
  throw new Error(`${why} (or set ${SKIP_BROWSER_ENV}=1 to skip the browser tests)`);
}

/** `it` for a test that needs Chromium: skipped, and titled as such, only under MIXLOAD_SKIP_BROWSER=1. */
export function itBrowser(name: string, fn: TestFunction, timeout?: number): void {
  if (skipBrowser) it.skip(`${name} [skipped: ${SKIP_BROWSER_ENV}=1]`, fn, timeout);
  else it(name, fn, timeout);
}
