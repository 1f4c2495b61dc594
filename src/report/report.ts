/**
 * `mixload report RUN_DIR`: one self-contained HTML file (Vega runtime, chart specs and data
 * inlined; opens offline) plus each chart as SVG (drawn by Vega in Node) and, when headless
 * Chromium is available, as PNG.
 *
 * Packing figures (fill, truncations, achieved token shares) are not in the schedule log, so
 * the report rebuilds the run's batches from config + recorded schedule — which is
 * `replay --verify`'s work, so the report states the verification result too. `rebuild:
 * false` skips it (achieved shares then come from the feedback token counts).
 */
import fs from "node:fs";
import path from "node:path";
import { PAD_DOMAIN } from "../batch/assemble.js";
import { readRunDir, type RunDir } from "../replay/run-dir.js";
import { verifyRun, type VerifyResult } from "../replay/verify.js";
import { launchChromium } from "./browser.js";
import { CHART_TITLES, renderSvgs, type ChartName } from "./charts.js";
import { RunModel, type ChartData, type PackingPoint } from "./model.js";
import { renderPage } from "./page.js";

export interface ReportOptions {
  out?: string;
  rebuild?: boolean;
  png?: boolean;
  workers?: number;
  log?: (line: string) => void;
  /** A rebuild already done (the demo verifies first and reuses it). */
  rebuilt?: { verify: VerifyResult; packing: PackingPoint[] };
}

export interface ReportResult {
  html: string;
  svgs: string[];
  pngs: string[];
  verify: VerifyResult | null;
  data: ChartData;
}

export function modelFor(run: RunDir): RunModel {
  const c = run.loaded.config;
  const model = new RunModel({
    run_id: c.run_id ?? path.basename(run.dir),
    mixer: c.mixer.name,
    domains: run.domains,
    tokens_per_step: c.world * c.batch_size * c.seq_len,
  });
  const all = [...run.weights, ...run.feedback, ...run.batches];
  for (const r of all) model.add(r);
  return model;
}

/** Rebuild the run (replay --verify's pass) and collect each step's packing figures on the way. */
export async function rebuildWithPacking(run: RunDir, workers?: number): Promise<{ verify: VerifyResult; packing: PackingPoint[] }> {
  const K = run.domains.length;
  const packing: PackingPoint[] = [];
  const verify = await verifyRun(run, {
    workers,
    onBatch: (step, batch, loader) => {
      const s = loader.stats();
      const domainTokens = new Array<number>(K).fill(0);
      for (let i = 0; i < batch.domain_ids.length; i++) {
        const d = batch.domain_ids[i];
        if (d !== PAD_DOMAIN) domainTokens[d] += 1;
      }
      packing.push({
        step,
        fill: batch.tokens / (batch.rows * batch.seqLen),
        truncations: s.truncations,
        min_truncations: s.min_truncations,
        domain_tokens: domainTokens,
      });
    },
  });
  return { verify, packing };
}

export async function buildReport(runDir: string, options: ReportOptions = {}): Promise<ReportResult> {
  const log = options.log ?? (() => undefined);
  const run = readRunDir(runDir);
  const model = modelFor(run);
  let verify: VerifyResult | null = null;
  const rebuilt = options.rebuilt ?? (options.rebuild !== false ? await rebuildWithPacking(run, options.workers) : null);
  if (rebuilt !== null) {
    verify = rebuilt.verify;
    for (const p of rebuilt.packing) model.addPacking(p);
    log(
      `rebuilt ${verify.steps} steps in ${verify.seconds.toFixed(1)} s: ${verify.ok ? "every digest matches the log" : `MISMATCH at step ${verify.first?.step} (${verify.first?.what})`}`,
    );
  }
  const data = model.charts();
  const out = path.resolve(options.out ?? path.join(run.dir, "report.html"));
  const chartsDir = path.join(path.dirname(out), `${path.basename(out, ".html")}-charts`);
  fs.mkdirSync(chartsDir, { recursive: true });

  const c = run.loaded.config;
  const verifyNote =
    verify === null
      ? ""
      : verify.ok
        ? `<p class="note">Replay check: all ${verify.matched} steps rebuilt from config + seed + recorded schedule match the logged digests${verify.folds_checked > 0 ? `; the ${verify.folds_checked} recorded weight changes re-derive exactly from the recorded feedback` : ""}.</p>`
        : `<p class="note"><b>Replay check FAILED</b> at step ${verify.first?.step}: ${verify.first?.what} — ${verify.first?.detail}</p>`;
  const html = renderPage({
    title: `mixload run ${data.run_id}`,
    subtitle: `${run.domains.length} domains · mixer ${c.mixer.name} ${JSON.stringify(c.mixer.params ?? {})} · seq_len ${c.seq_len} · ${c.world}×${c.batch_size} rows/step · seed ${c.seed} · feedback_lag ${c.serve.feedback_lag} · ${run.dir}`,
    domains: run.domains,
    data,
    extra: verifyNote,
  });
  fs.writeFileSync(out, html);

  const svgs: string[] = [];
  const rendered = await renderSvgs(data, run.domains);
  for (const [name, svg] of Object.entries(rendered)) {
    const file = path.join(chartsDir, `${name}.svg`);
    fs.writeFileSync(file, svg);
    svgs.push(file);
  }
  const pngs = options.png === false ? [] : await screenshots(out, chartsDir);
  if (options.png !== false && pngs.length === 0) log("PNG charts skipped: headless Chromium (/usr/bin/chromium + playwright-core) not available");
  return { html: out, svgs, pngs, verify, data };
}

/** Open the report in headless Chromium; save the whole page and each chart as PNG. */
async function screenshots(html: string, dir: string): Promise<string[]> {
  const browser = await launchChromium();
  if (browser === null) return [];
  try {
    const page = await browser.context.newPage();
    await page.goto(`file://${html}`);
    await page.waitForSelector("body[data-rendered]", { timeout: 30_000 });
    const files: string[] = [];
    const full = path.join(dir, "report.png");
    await page.screenshot({ path: full, fullPage: true });
    files.push(full);
    for (const name of Object.keys(CHART_TITLES) as ChartName[]) {
      const file = path.join(dir, `${name}.png`);
      await page.locator(`#chart-${name}`).screenshot({ path: file });
      files.push(file);
    }
    return files;
  } finally {
    await browser.close();
  }
}
