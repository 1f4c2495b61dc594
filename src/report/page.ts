/**
 * The HTML page shared by `mixload report` (static: Vega runtime, specs and data inlined —
 * one file that opens offline) and the live dashboard (Vega from /assets/vega.min.js, data
 * pushed over server-sent events from /events and swapped into the views without reload).
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { CHART_TITLES, compiledSpecs, type ChartName } from "./charts.js";
import type { ChartData } from "./model.js";

/** The Vega runtime (the package's browser build, `unpkg` in its package.json; defines `vega`). */
export function vegaRuntime(): string {
  // The package exports only its ES module; the browser build sits beside it in build/.
  const entry = fileURLToPath(import.meta.resolve("vega"));
  return fs.readFileSync(path.join(path.dirname(entry), "vega.min.js"), "utf8");
}

export const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
/** JSON or JS safe inside a <script> element. */
export const scriptSafe = (s: string): string => s.replace(/<\/(script)/gi, "<\\/$1").replace(/<!--/g, "<\\!--");

export const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d2430;background:#fafbfc}
h1{font-size:20px;margin:0 0 4px} .sub{color:#5b6675;margin:0 0 16px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(680px,1fr));gap:16px}
figure{margin:0;background:#fff;border:1px solid #e3e6ea;border-radius:6px;padding:12px;min-height:120px;overflow-x:auto}
table{border-collapse:collapse;background:#fff;margin:8px 0 20px;font-variant-numeric:tabular-nums}
td,th{padding:3px 10px;border-bottom:1px solid #eef0f2;text-align:right} th:first-child,td:first-child{text-align:left}
.up{color:#b4451b} .down{color:#2a6fb0} .note{color:#5b6675;font-size:12px}
#status{font-size:12px;color:#5b6675}`;

/** Browser code: draw every chart from `specs`, render the summary table, swap data on updates. */
const CLIENT = `
(function(){
  var specs = JSON.parse(document.getElementById('mixload-specs').textContent);
  var views = {};
  var f = function(x,d){ return (typeof x==='number' && isFinite(x)) ? x.toFixed(d) : '–'; };
  function summary(data){
    var rows = data.summary.map(function(s){
      var cls = s.w_end > s.w_start ? 'up' : (s.w_end < s.w_start ? 'down' : '');
      return '<tr data-domain="'+s.name+'"><td>'+s.name+'</td><td>'+f(s.w_start,4)+'</td><td class="'+cls+' w-end">'+f(s.w_end,4)+'</td><td>'+f(s.w_mean,4)+
        '</td><td>'+f(s.achieved,4)+'</td><td>'+f(s.loss_start,3)+'</td><td>'+f(s.loss_end,3)+'</td></tr>';
    }).join('');
    document.getElementById('mixload-summary').innerHTML =
      '<tr><th>domain</th><th>weight start</th><th>weight now/end</th><th>mean weight</th><th>achieved share</th><th>loss start</th><th>loss end</th></tr>' + rows;
    var live = data.live ? (' · served '+data.live.steps_served+' steps, '+data.live.tokens_served.toLocaleString('en')+' tokens, fill '+f(data.live.fill_rate,4)) : '';
    document.getElementById('status').textContent = 'run '+data.run_id+' · mixer '+data.mixer+' · '+data.steps+' steps built · '+data.folded+' feedback steps folded · weights version '+data.weights_version+live+
      ' · achieved from '+data.sources.achieved+' · packing from '+data.sources.packing;
    document.body.setAttribute('data-weights-version', String(data.weights_version));
    document.body.setAttribute('data-steps', String(data.steps));
  }
  function draw(data){
    summary(data);
    var names = Object.keys(specs);
    return Promise.all(names.map(function(name){
      var v = views[name];
      if (!v) {
        v = views[name] = new vega.View(vega.parse(specs[name]), { renderer: 'svg', container: '#chart-'+name, hover: true });
      }
      v.data('table', data.tables[name] || []);
      return v.runAsync();
    })).then(function(){ document.body.setAttribute('data-rendered', String((+document.body.getAttribute('data-rendered')||0)+1)); window.mixloadData = data; });
  }
  window.mixloadDraw = draw;
  var inline = document.getElementById('mixload-data');
  if (inline) { draw(JSON.parse(inline.textContent)); return; }
  var es = new EventSource('events');
  es.addEventListener('charts', function(ev){ draw(JSON.parse(ev.data)); });
  es.onerror = function(){ document.getElementById('status').textContent += ' · (disconnected; retrying)'; };
})();`;

export interface PageOptions {
  title: string;
  subtitle: string;
  domains: readonly string[];
  /** Static report: inline this data and the Vega runtime. Live: omit (data comes from /events). */
  data?: ChartData;
  /** Extra HTML below the charts (e.g. a counterfactual note). */
  extra?: string;
  /** The live dashboard's chart variants (`ChartOptions.live`); default: no inline `data`. */
  live?: boolean;
}

export function renderPage(o: PageOptions): string {
  const specs = compiledSpecs(o.domains, { live: o.live ?? o.data === undefined });
  const figures = (Object.keys(specs) as ChartName[]).map((name) => `<figure id="chart-${name}" aria-label="${esc(CHART_TITLES[name])}"></figure>`).join("\n");
  const runtime = o.data ? `<script>${scriptSafe(vegaRuntime())}</script>` : `<script src="assets/vega.min.js"></script>`;
  const inline = o.data ? `<script type="application/json" id="mixload-data">${scriptSafe(JSON.stringify(o.data))}</script>` : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(o.title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${STYLE}</style></head>
<body>
<h1>${esc(o.title)}</h1>
<p class="sub">${esc(o.subtitle)}</p>
<p id="status"></p>
<table id="mixload-summary"></table>
<div class="grid">
${figures}
</div>
${o.extra ?? ""}
${runtime}
<script type="application/json" id="mixload-specs">${scriptSafe(JSON.stringify(specs))}</script>
${inline}
<script>${CLIENT}</script>
</body></html>
`;
}
