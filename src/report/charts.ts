/**
 * The five charts, as Vega-Lite specs over a named dataset `table` (rows from model.ts),
 * compiled to Vega here in Node. The browser page needs only the Vega runtime to draw them
 * (and swaps the `table` data in place when the dashboard pushes new rows); `renderSvg`
 * draws the same specs to SVG strings in Node for the report's files.
 *
 * Every spec autosizes with `resize: true`: the live page creates its views on an empty
 * table and fills them later, and without it Vega keeps the padding it computed for the
 * empty chart (titles, axis titles and legends then fall outside the drawing).
 */
import { compile, type TopLevelSpec } from "vega-lite";
import * as vega from "vega";
import type { ChartData } from "./model.js";

export type ChartName = keyof ChartData["tables"];

export const CHART_TITLES: Record<ChartName, string> = {
  weights: "Mixture weights over time",
  loss: "Training loss per domain (token-weighted trailing mean, nats)",
  shares: "Achieved vs target token shares",
  packing: "Packing: fill rate and truncations",
  throughput: "Throughput (tokens built per second; the builder runs at most `prefetch` steps ahead of the trainer)",
};

/** Plot width: with axes and a legend a chart fits a half-width figure of a 1440 px page. */
const W = 500;
const H = 260;
const data = { name: "table" };
const autosize = { type: "pad" as const, resize: true };
const schema = "https://vega.github.io/schema/vega-lite/v6.json";
const domainColor = (domains: readonly string[]) => ({
  field: "domain",
  type: "nominal" as const,
  title: "domain",
  scale: { domain: [...domains], scheme: domains.length > 10 ? "category20" : "tableau10" },
  legend: { labelLimit: 220, symbolLimit: 50 },
});
/** Steps are integers: no "10.000000" when a series has one point, no repeated labels on short runs. */
const stepAxis = { field: "step", type: "quantitative" as const, title: "step", scale: { nice: false }, axis: { format: "d", tickMinStep: 1 } };
const stepTip = { field: "step", type: "quantitative" as const, format: "d" };

export interface ChartOptions {
  /**
   * The live dashboard's variant: its packing figures are the service's cumulative fill rate
   * only (the `stats` op has no truncation counts; the report rebuilds the batches for those).
   */
  live?: boolean;
}

export function chartSpecs(domains: readonly string[], options: ChartOptions = {}): Record<ChartName, TopLevelSpec> {
  const packing: TopLevelSpec = options.live
    ? {
        $schema: schema,
        title: { text: CHART_TITLES.packing, subtitle: "served fill rate (cumulative, from the service's stats) · truncations: in the report" },
        autosize,
        width: W,
        height: 180,
        data,
        mark: { type: "line", point: { size: 16 } },
        encoding: {
          x: stepAxis,
          y: { field: "value", type: "quantitative", title: "fill rate", scale: { zero: false }, axis: { format: ".4f" } },
          tooltip: [stepTip, { field: "metric" }, { field: "value", format: ".5g" }],
        },
      }
    : {
        $schema: schema,
        title: CHART_TITLES.packing,
        autosize,
        data,
        facet: {
          row: {
            field: "metric",
            type: "nominal",
            title: null,
            sort: ["fill rate", "truncations (cumulative)", "minimum possible truncations"],
            // one word a line: "minimum possible truncations" is longer than a 70 px row
            header: { labelExpr: "split(datum.value, ' ')" },
          },
        },
        spec: {
          width: W,
          height: 70,
          mark: { type: "line", point: { size: 12 } },
          encoding: {
            x: stepAxis,
            y: { field: "value", type: "quantitative", title: null, scale: { zero: false } },
            tooltip: [stepTip, { field: "metric" }, { field: "value", format: ".5g" }],
          },
        },
        resolve: { scale: { y: "independent" } },
      };
  return {
    weights: {
      $schema: schema,
      autosize,
      title: CHART_TITLES.weights,
      width: W,
      height: H,
      data,
      mark: { type: "area", interpolate: "step-after" },
      encoding: {
        x: stepAxis,
        y: { field: "weight", type: "quantitative", stack: "zero", title: "weight", scale: { domain: [0, 1] } },
        color: domainColor(domains),
        order: { field: "domain" },
        tooltip: [stepTip, { field: "domain" }, { field: "weight", format: ".4f" }],
      },
    },
    loss: {
      $schema: schema,
      autosize,
      title: CHART_TITLES.loss,
      width: W,
      height: H,
      data,
      mark: { type: "line", strokeWidth: 1.5 },
      encoding: {
        x: stepAxis,
        y: { field: "loss", type: "quantitative", title: "loss (nats/token)", scale: { zero: false } },
        color: domainColor(domains),
        tooltip: [stepTip, { field: "domain" }, { field: "loss", format: ".3f" }],
      },
    },
    shares: {
      $schema: schema,
      autosize,
      title: CHART_TITLES.shares,
      width: W,
      height: H,
      data,
      mark: "bar",
      encoding: {
        x: { field: "domain", type: "nominal", sort: [...domains], title: null, axis: { labelAngle: -40 } },
        xOffset: { field: "kind", sort: ["target", "achieved"] },
        y: { field: "share", type: "quantitative", title: "share of tokens" },
        color: { field: "kind", type: "nominal", title: null, scale: { domain: ["target", "achieved"], range: ["#9aa9c7", "#d9622b"] } },
        tooltip: [{ field: "domain" }, { field: "kind" }, { field: "share", format: ".4f" }],
      },
    },
    packing,
    throughput: {
      $schema: schema,
      autosize,
      title: CHART_TITLES.throughput,
      width: W,
      height: 180,
      data,
      mark: { type: "line", point: { size: 12 } },
      encoding: {
        x: stepAxis,
        y: { field: "tokens_per_s", type: "quantitative", title: "tokens / s" },
        tooltip: [stepTip, { field: "tokens_per_s", format: ",.0f" }],
      },
    },
  };
}

/** Vega specs (what the page's Vega runtime parses). */
export function compiledSpecs(domains: readonly string[], options: ChartOptions = {}): Record<ChartName, vega.Spec> {
  const specs = chartSpecs(domains, options);
  return Object.fromEntries(Object.entries(specs).map(([k, s]) => [k, compile(s).spec])) as Record<ChartName, vega.Spec>;
}

/** Draw every chart to an SVG string in Node (no browser, no canvas). */
export async function renderSvgs(data: ChartData, domains: readonly string[]): Promise<Record<ChartName, string>> {
  const specs = compiledSpecs(domains);
  const out: Partial<Record<ChartName, string>> = {};
  for (const [name, spec] of Object.entries(specs) as [ChartName, vega.Spec][]) {
    const view = new vega.View(vega.parse(spec), { renderer: "none" });
    view.data("table", data.tables[name] as object[]);
    await view.runAsync();
    out[name] = await view.toSVG();
    view.finalize();
  }
  return out as Record<ChartName, string>;
}
