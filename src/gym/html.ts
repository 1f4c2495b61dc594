/**
 * The gym's HTML report (issue 14, part 7), with `mixload report`'s machinery (src/report/page.ts:
 * the same Vega runtime inlined, the same style, Vega-Lite compiled to Vega in Node, one file that
 * opens offline): each mixer's weight trajectory (mean over seeds) against the oracle's mixture
 * (synthetic mode) or the natural mixture (real mode: there is no exact oracle), held-out loss
 * curves with their 95 % bands over seeds, and the paired table against uniform.
 */
import { compile, type TopLevelSpec } from "vega-lite";
import { esc, scriptSafe, STYLE, vegaRuntime } from "../report/page.js";
import { showInterval, showPaired } from "./format.js";
import type { GymReport } from "./report.js";

const schema = "https://vega.github.io/schema/vega-lite/v6.json";

function weightSpec(r: GymReport): TopLevelSpec {
  const rows: object[] = [];
  for (const m of r.mixers) for (const p of m.curve) p.weights.forEach((w, i) => rows.push({ mixer: m.name, step: p.step, domain: r.domains[i], weight: w }));
  const guide = r.oracle?.find((o) => o.objective === "mean");
  const lines: object[] = [];
  const guideName = guide ? (r.mode === "real" ? "oracle of the fitted laws (mean loss)" : "oracle (mean loss)") : "natural";
  if (guide) for (const m of r.mixers) for (const d of r.domains) lines.push({ mixer: m.name, domain: d, weight: guide.weights[d] });
  else
    for (const m of r.mixers)
      for (const d of r.domains) {
        const nat = r.mixers.find((x) => x.name === "natural");
        if (nat) lines.push({ mixer: m.name, domain: d, weight: nat.achieved[d].mean });
      }
  const color = { field: "domain", type: "nominal" as const, scale: { domain: r.domains, scheme: r.domains.length > 10 ? "category20" : "tableau10" } };
  return {
    $schema: schema,
    title: { text: "Weights over steps (mean over seeds)", subtitle: `dashed: ${guideName} mixture` },
    data: { values: [...rows.map((x) => ({ ...x, kind: "mixer" })), ...lines.map((x) => ({ ...x, kind: "guide" }))] },
    facet: { field: "mixer", type: "nominal", title: null, sort: r.mixers.map((m) => m.name) },
    columns: 2,
    spec: {
      width: 240,
      height: 150,
      layer: [
        {
          transform: [{ filter: "datum.kind === 'mixer'" }],
          mark: { type: "line" },
          encoding: { x: { field: "step", type: "quantitative" }, y: { field: "weight", type: "quantitative" }, color },
        },
        {
          transform: [{ filter: "datum.kind === 'guide'" }],
          mark: { type: "rule", strokeDash: [4, 3], opacity: 0.8 },
          encoding: { y: { field: "weight", type: "quantitative" }, color },
        },
      ],
    },
  };
}

function curveSpec(r: GymReport, metric: "mean" | "worst_excess", title: string): TopLevelSpec {
  const rows = r.mixers.flatMap((m) => m.curve.map((p) => ({ mixer: m.name, step: p.step, y: p[metric].mean, lo: p[metric].lo, hi: p[metric].hi })));
  const color = { field: "mixer", type: "nominal" as const, scale: { scheme: "category10" } };
  return {
    $schema: schema,
    title: { text: title, subtitle: "mean over seeds, band: 95 % t-interval" },
    width: 560,
    height: 260,
    data: { values: rows },
    layer: [
      {
        mark: { type: "area", opacity: 0.15 },
        encoding: {
          x: { field: "step", type: "quantitative" },
          y: { field: "lo", type: "quantitative", scale: { zero: false }, title: "nats/token" },
          y2: { field: "hi" },
          color,
        },
      },
      { mark: { type: "line", point: true }, encoding: { x: { field: "step", type: "quantitative" }, y: { field: "y", type: "quantitative" }, color } },
    ],
  };
}

function pairedTable(r: GymReport): string {
  const metrics = ["mean", "worst", "worst_excess", "target"] as const;
  const shown = metrics.filter((k) => r.mixers.some((m) => m.metrics[k] !== undefined));
  const head = `<tr><th>mixer</th>${shown.map((k) => `<th>${k}</th><th>${k} vs uniform</th>`).join("")}<th>own objective</th></tr>`;
  const rows = r.mixers.map((m) => {
    const cells = shown.map((k) => {
      const p = m.paired[k];
      const cls = p?.verdict === "better" ? "down" : p?.verdict === "worse" ? "up" : "";
      return `<td>${esc(showInterval(m.metrics[k]))}</td><td class="${cls}">${p ? esc(showPaired(p)) : "—"}</td>`;
    });
    return `<tr><td>${esc(m.name)}</td>${cells.join("")}<td>${m.vs_uniform ? esc(m.vs_uniform.objective) : "—"}</td></tr>`;
  });
  return `<table>${head}${rows.join("")}</table>`;
}

function checksTable(r: GymReport): string {
  const rows = r.mixers.flatMap((m) =>
    m.weight_checks.map(
      (c) =>
        `<tr><td>${esc(m.name)}</td><td>${esc(`${c.lower} − ${c.than}`)}</td><td class="${c.diff.hi < 0 ? "down" : ""}">${esc(showInterval(c.diff))}</td><td>${c.below}/${c.of}</td></tr>`,
    ),
  );
  return rows.length
    ? `<h2>Weight checks</h2><table><tr><th>mixer</th><th>achieved share difference</th><th>mean [95 %]</th><th>seeds lower</th></tr>${rows.join("")}</table>`
    : "";
}

function oracleTable(r: GymReport): string {
  if (!r.oracle || !r.mixers.some((m) => m.regret)) return "";
  const head = `<tr><th>mixer</th><th>regret mean vs oracle</th><th>regret mean vs uniform</th><th>regret worst excess vs oracle</th><th>regret worst excess vs uniform</th></tr>`;
  const rows = r.mixers.map(
    (m) =>
      `<tr><td>${esc(m.name)}</td>${(["mean", "worst_excess"] as const)
        .map((o) => `<td>${esc(showInterval(m.regret?.[o]?.vs_oracle))}</td><td>${esc(showInterval(m.regret?.[o]?.vs_uniform))}</td>`)
        .join("")}</tr>`,
  );
  const mixes = r.oracle
    .map(
      (o) =>
        `<p class="note">oracle for ${esc(o.objective)}: ${o.value.toFixed(4)} with ${esc(
          Object.entries(o.weights)
            .map(([d, w]) => `${d} ${(100 * w).toFixed(1)} %`)
            .join(", "),
        )}</p>`,
    )
    .join("");
  return `<h2>Regret against the oracle</h2>${mixes}<table>${head}${rows.join("")}</table>`;
}

export function renderGymReport(r: GymReport): string {
  const specs = {
    weights: weightSpec(r),
    mean: curveSpec(r, "mean", "Mean held-out loss"),
    worst_excess: curveSpec(r, "worst_excess", "Worst-domain excess over the reference"),
  };
  const compiled = Object.fromEntries(Object.entries(specs).map(([k, s]) => [k, compile(s).spec]));
  const title = `mixload gym (${r.mode}, ${String(r.learner.name ?? "")})`;
  const sub = `${r.steps} steps × ${r.tokens_per_step} tokens, feedback lag ${r.feedback_lag}; ${r.domains.length} domains; seeds ${r.seeds.join(", ")}; ${r.config ?? ""}`;
  const figures = Object.keys(compiled)
    .map((k) => `<figure id="chart-${k}"></figure>`)
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${STYLE}</style></head>
<body>
<h1>${esc(title)}</h1>
<p class="sub">${esc(sub)}</p>
<h2>Paired comparison with uniform</h2>
<p class="note">mean [95 % t-interval over seeds]; vs uniform: paired mean difference [95 % paired bootstrap], wins/losses; coloured only where the interval excludes 0</p>
${pairedTable(r)}
${oracleTable(r)}
${checksTable(r)}
<div class="grid">
${figures}
</div>
<script>${scriptSafe(vegaRuntime())}</script>
<script type="application/json" id="gym-specs">${scriptSafe(JSON.stringify(compiled))}</script>
<script>
(function(){
  var specs = JSON.parse(document.getElementById('gym-specs').textContent);
  Promise.all(Object.keys(specs).map(function(k){
    return new vega.View(vega.parse(specs[k]), {renderer: 'svg', container: '#chart-' + k, hover: true}).runAsync();
  })).then(function(){ document.body.setAttribute('data-rendered', '1'); });
})();
</script>
</body></html>
`;
}
