/**
 * `mixload report` on a recorded DoReMi run, opened in a real headless Chromium (Debian's,
 * via playwright-core): one self-contained file that loads with no console errors and no
 * network requests, every chart drawn with the run's domains; a screenshot is kept.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect } from "vitest";
import type { Browser } from "../../src/report/browser.js";
import { itBrowser, needBrowser, openBrowser } from "../helpers/browser.js";
import { CLI, DOMAINS, recordRun, tempDir } from "../replay/fixture.js";

const SHOTS = process.env.MIXLOAD_SHOTS ?? "/tmp/mixload-shots";
let dir: string;
let runDir: string;
let browser: Browser | null = null;

beforeAll(async () => {
  dir = tempDir("mixload-report-");
  ({ runDir } = await recordRun(dir, 30));
  browser = await openBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("mixload report", () => {
  itBrowser("writes one offline HTML file and SVG + PNG charts; the page renders every chart in Chromium with no errors", async () => {
    const chromium = needBrowser(browser); // first: without Chromium the PNG checks below would fail less clearly
    const out = path.join(dir, "out", "run.html");
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, [CLI, "report", runDir, "--out", out], { timeout: 90_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? 1 : 0, stdout, stderr }),
      ),
    );
    expect(r.stderr).toContain("every digest matches the log");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`report: ${out}`);
    const html = fs.readFileSync(out, "utf8");
    // self-contained: no external scripts, styles or fetches
    expect(html).not.toMatch(/<script[^>]+src=/);
    expect(html).not.toMatch(/<link[^>]+href=/);
    const charts = path.join(dir, "out", "run-charts");
    for (const name of ["weights", "loss", "shares", "packing", "throughput"]) {
      const svg = fs.readFileSync(path.join(charts, `${name}.svg`), "utf8");
      expect(svg.startsWith("<svg")).toBe(true);
      if (name === "weights" || name === "loss" || name === "shares") for (const d of DOMAINS) expect(svg).toContain(`>${d}<`);
      expect(fs.statSync(path.join(charts, `${name}.png`)).size).toBeGreaterThan(1000);
    }

    const page = await chromium.context.newPage();
    const errors: string[] = [];
    const requests: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") errors.push(`${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
    page.on("request", (q) => {
      if (!q.url().startsWith("file://")) requests.push(q.url());
    });
    await page.goto(`file://${out}`);
    await page.waitForSelector("body[data-rendered]", { timeout: 30_000 });
    for (const name of ["weights", "loss", "shares", "packing", "throughput"]) {
      expect(await page.locator(`#chart-${name} svg`).count()).toBe(1);
      expect(await page.locator(`#chart-${name} svg path, #chart-${name} svg rect`).count()).toBeGreaterThan(3);
    }
    const legend = await page.locator("#chart-weights svg").textContent();
    for (const d of DOMAINS) expect(legend).toContain(d);
    const rows = await page.locator("#mixload-summary tr[data-domain]").evaluateAll((els) => els.map((e) => e.getAttribute("data-domain")));
    expect(rows).toEqual(DOMAINS);
    expect(await page.locator("text=Replay check: all").count()).toBe(1);
    fs.mkdirSync(SHOTS, { recursive: true });
    const shot = path.join(dir, "report.png");
    await page.screenshot({ path: shot, fullPage: true });
    fs.copyFileSync(shot, path.join(SHOTS, "report.png"));
    expect(fs.statSync(shot).size).toBeGreaterThan(10_000);
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
    await page.close();
  });
});
