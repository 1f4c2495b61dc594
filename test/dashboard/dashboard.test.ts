/**
 * The live dashboard: a real DoReMi service with the dashboard attached, the page open in
 * headless Chromium, the n-gram trainer driving the run. New weights show up in the open page
 * without a reload; /metrics is valid Prometheus text; `mixload serve --http` starts it.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig, type LoadedConfig } from "../../src/config/load.js";
import { attachDashboard } from "../../src/dashboard/attach.js";
import type { Dashboard } from "../../src/dashboard/server.js";
import { trainAgainst, trainReference } from "../../src/demo/trainer.js";
import type { KneserNeyTrigram } from "../../src/gym/ngram.js";
import type { Browser } from "../../src/report/browser.js";
import { itBrowser, needBrowser, openBrowser } from "../helpers/browser.js";
import { MixloadService } from "../../src/serve/service.js";
import { CLI, DOMAINS, tempDir, writeConfig } from "../replay/fixture.js";

const SHOTS = process.env.MIXLOAD_SHOTS ?? "/tmp/mixload-shots";
let dir: string;
let loaded: LoadedConfig;
let reference: KneserNeyTrigram;
let browser: Browser | null = null;

beforeAll(async () => {
  dir = tempDir("mixload-dashboard-");
  loaded = loadConfig(writeConfig(dir));
  reference = await trainReference(loaded, 10);
  browser = await openBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Parse Prometheus text format 0.0.4: every sample line, checked against the grammar and its TYPE. */
function parseProm(text: string): Map<string, { labels: Record<string, string>; value: number }[]> {
  const out = new Map<string, { labels: Record<string, string>; value: number }[]>();
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const t = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (t) {
      types.set(t[1], t[2]);
      continue;
    }
    if (/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*$/.test(line)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    if (!types.has(m[1])) throw new Error(`sample before its # TYPE: ${m[1]}`);
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    const value = m[4] === "NaN" ? NaN : Number(m[4]);
    if (m[4] !== "NaN" && !Number.isFinite(value) && !/^[+-]Inf$/.test(m[4])) throw new Error(`bad value ${m[4]}`);
    out.set(m[1], [...(out.get(m[1]) ?? []), { labels, value }]);
  }
  return out;
}

describe("live dashboard", () => {
  itBrowser(
    "shows new weights without a reload, and /metrics parses",
    async () => {
      const chromium = needBrowser(browser);
      const service = await MixloadService.open(loaded, { runDir: path.join(dir, "run") });
      let dash: Dashboard | null = null;
      try {
        dash = await attachDashboard(service, loaded, 0);
        const page = await chromium.context.newPage();
        const errors: string[] = [];
        page.on("console", (m) => {
          if (m.type() === "error") errors.push(m.text());
        });
        page.on("pageerror", (e) => errors.push(e.message));
        let navigations = 0;
        page.on("framenavigated", (f) => {
          if (f === page.mainFrame()) navigations += 1;
        });
        await page.goto(dash.url);
        await page.waitForSelector("body[data-rendered]", { timeout: 30_000 });
        expect(await page.getAttribute("body", "data-weights-version")).toBe("0");
        await page.evaluate(() => {
          (window as unknown as { marker: number }).marker = 42;
        });

        // Train 12 steps: DoReMi folds each step's feedback into new weights. The 12 steps take
        // about a second, faster than the 500 ms poll; a tick per step stands in for a real
        // trainer's pace so the live fill-rate series gets several samples.
        const ds = dash;
        await trainAgainst({ endpoint: service.controlEndpoint, steps: 12, reference, onStep: () => void ds.tick() });
        await page.waitForFunction(() => Number(document.body.getAttribute("data-weights-version")) >= 10, undefined, { timeout: 20_000 });
        expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42); // same document: no reload
        expect(navigations).toBe(1);
        const wEnd = await page.locator("#mixload-summary tr[data-domain] td.w-end").allTextContents();
        expect(wEnd).toHaveLength(DOMAINS.length);
        expect(new Set(wEnd).size).toBeGreaterThan(1); // no longer uniform
        const legend = await page.locator("#chart-weights svg").textContent();
        for (const d of DOMAINS) expect(legend).toContain(d);

        // The views were created on empty tables: once filled, every title, axis title, label and
        // legend entry must still lie inside its chart's SVG (no clipped "ll rate and truncations").
        await page.waitForFunction(
          () => (window as unknown as { mixloadData?: { tables: { packing: unknown[] } } }).mixloadData!.tables.packing.length >= 2,
          undefined,
          { timeout: 10_000 },
        );
        const charts = ["weights", "loss", "shares", "packing", "throughput"];
        const outside = await page.evaluate(
          (names) =>
            names.flatMap((name) => {
              const svg = document.querySelector(`#chart-${name} svg`)!.getBoundingClientRect();
              return [...document.querySelectorAll(`#chart-${name} svg text`)]
                .filter((t) => (t.textContent ?? "") !== "")
                .map((t) => ({ text: t.textContent, r: t.getBoundingClientRect() }))
                .filter(({ r }) => r.left < svg.left - 1 || r.right > svg.right + 1 || r.top < svg.top - 1 || r.bottom > svg.bottom + 1)
                .map(({ text }) => `${name}: ${text}`);
            }),
          charts,
        );
        expect(outside).toEqual([]);
        const text = async (name: string): Promise<string> => (await page.locator(`#chart-${name} svg`).textContent()) ?? "";
        expect(await text("packing")).toContain("Packing: fill rate and truncations");
        expect(await text("packing")).toContain("truncations: in the report");
        expect(await text("loss")).toContain("loss (nats/token)");
        expect(await text("throughput")).not.toMatch(/\d\.0{3}/); // integer steps, no "10.000000"
        const live = await page.evaluate(
          () => (window as unknown as { mixloadData: { tables: { packing: { step: number }[]; throughput: { step: number }[] } } }).mixloadData.tables,
        );
        expect(live.throughput.length).toBeGreaterThanOrEqual(10); // one point per built step, not one per 10
        expect(new Set(live.packing.map((p) => p.step)).size).toBeGreaterThanOrEqual(2);
        for (const name of charts) expect(await page.locator(`#chart-${name} svg path`).count()).toBeGreaterThan(2);
        fs.mkdirSync(SHOTS, { recursive: true });
        await page.screenshot({ path: path.join(dir, "dashboard.png"), fullPage: true });
        fs.copyFileSync(path.join(dir, "dashboard.png"), path.join(SHOTS, "dashboard.png"));
        expect(errors).toEqual([]);
        await page.close();

        const metrics = parseProm(await (await fetch(`${dash.url}metrics`)).text());
        expect(metrics.get("mixload_steps_built")![0].value).toBeGreaterThanOrEqual(12);
        expect(metrics.get("mixload_steps_served")![0].value).toBe(12);
        expect(metrics.get("mixload_tokens_served_total")![0].value).toBeGreaterThan(0);
        const w = metrics.get("mixload_domain_weight")!;
        expect(w.map((s) => s.labels.domain)).toEqual(DOMAINS);
        expect(w.reduce((a, s) => a + s.value, 0)).toBeCloseTo(1, 9);
        const loss = metrics.get("mixload_domain_loss")!;
        expect(loss.map((s) => s.labels.domain)).toEqual(DOMAINS);
        for (const s of loss) expect(s.value).toBeGreaterThan(0);
      } finally {
        await dash?.close();
        await service.close();
      }
    },
    90_000,
  );

  it("`mixload serve --http 0` serves the page and /metrics on loopback", async () => {
    const child = spawn(process.execPath, [CLI, "serve", "--config", path.join(dir, "config.json"), "--run-dir", path.join(dir, "cli-run"), "--http", "0"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const exit = new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
    try {
      const end = Date.now() + 60_000;
      while (!/dashboard (http:\/\/127\.0\.0\.1:\d+\/)/.test(err)) {
        if (Date.now() > end || child.exitCode !== null) throw new Error(`no dashboard line: ${err}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const url = /dashboard (http:\/\/127\.0\.0\.1:\d+\/)/.exec(err)![1];
      const page = await fetch(url);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain("mixload · live");
      let m = parseProm(await (await fetch(`${url}metrics`)).text());
      for (let i = 0; i < 50 && m.get("mixload_domain_weight")!.some((s) => Number.isNaN(s.value)); i++) {
        await new Promise((r) => setTimeout(r, 100)); // the first log lines are read on the next tick
        m = parseProm(await (await fetch(`${url}metrics`)).text());
      }
      expect(m.get("mixload_domain_weight")!.map((s) => s.value)).toEqual(DOMAINS.map(() => 0.25));
      expect(m.get("mixload_info")![0].labels).toMatchObject({ mixer: "doremi" });
      expect((await fetch(`${url}nope`)).status).toBe(404);
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exit).toBe(0);
  }, 90_000);
});
