/** The gym's stdout table: every metric as mean [95 % interval] over seeds, and each mixer's own objective vs uniform. */
import type { GymReport, MixerSummary } from "./report.js";
import type { Interval, Paired } from "./stats.js";

const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : "–");
const sgn = (x: number, digits = 3) => (x >= 0 ? "+" : "") + (Number.isFinite(x) ? x.toFixed(digits) : "–");
const pad = (s: string, n: number) => (s.length >= n ? s : s + " ".repeat(n - s.length));

export function showInterval(i: Interval | undefined): string {
  if (!i || !Number.isFinite(i.mean)) return "–";
  return Number.isFinite(i.lo) ? `${f3(i.mean)} [${f3(i.lo)}, ${f3(i.hi)}]` : f3(i.mean);
}

export function showPaired(p: Paired): string {
  // Differences below 0.01 nats get a fourth decimal, so a consistent tiny gain does not print as "−0.000".
  const d = Math.abs(p.delta) < 0.01 ? 4 : 3;
  const mark = p.verdict === "better" ? "BETTER" : p.verdict === "worse" ? "WORSE" : "tie";
  return `${sgn(p.delta, d)} [${sgn(p.lo, d)}, ${sgn(p.hi, d)}] ${p.wins}W/${p.losses}L ${mark}`;
}

function table(head: string[], rows: string[][]): string[] {
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
  return [head.map((h, c) => pad(h, widths[c])).join("  "), ...rows.map((row) => row.map((x, c) => pad(x, widths[c])).join("  "))];
}

function row(m: MixerSummary, hasTarget: boolean, hasRegret: boolean): string[] {
  const vs = m.vs_uniform ? `${m.vs_uniform.objective} ${showPaired(m.vs_uniform)}` : "—";
  const cells = [m.name, showInterval(m.metrics.mean), showInterval(m.metrics.worst_excess)];
  if (hasTarget) cells.push(showInterval(m.metrics.target));
  if (hasRegret) cells.push(showInterval(m.regret?.mean?.vs_oracle), showInterval(m.regret?.worst_excess?.vs_oracle));
  cells.push(vs, m.wall_seconds.toFixed(1));
  return cells;
}

export function formatReport(r: GymReport): string {
  const out: string[] = [];
  out.push(
    `mixload gym (${r.mode}, ${String(r.learner.name ?? r.learner.kind)}): ${r.steps} steps × ${r.tokens_per_step} tokens, feedback lag ${r.feedback_lag}, eval every ${r.eval_every}; ${r.domains.length} domains; seeds ${r.seeds.join(", ")}; ${r.wall_seconds.toFixed(1)} s`,
  );
  out.push(`reference (${r.reference.mix} mix): mean held-out ${showInterval(r.reference.mean)}`);
  out.push(
    "mean [95 % t-interval over seeds]; vs uniform: paired mean difference [95 % paired bootstrap], wins/losses; BETTER/WORSE only where the interval excludes 0",
  );
  out.push("");
  const hasTarget = r.mixers.some((m) => m.metrics.target !== undefined);
  const hasRegret = r.mixers.some((m) => m.regret !== undefined);
  const head = ["mixer", "mean held-out", "worst excess"];
  if (hasTarget) head.push("target (OOD)");
  if (hasRegret) head.push("regret mean vs oracle", "regret worst-excess vs oracle");
  head.push("own objective vs uniform", "wall s");
  out.push(
    ...table(
      head,
      r.mixers.map((m) => row(m, hasTarget, hasRegret)),
    ),
  );
  for (const m of r.mixers) for (const e of m.errors) out.push(`${m.name}: ${e}`);
  if (r.oracle) {
    out.push("");
    if (r.mode === "real") out.push("oracle mixtures of gym.synthetic's fitted laws (a guide for the weight trajectories, not this learner's optimum):");
    for (const o of r.oracle)
      out.push(
        `oracle (${o.objective}): ${f3(o.value)} with ${Object.entries(o.weights)
          .map(([d, w]) => `${d} ${(100 * w).toFixed(1)}%`)
          .join(", ")}`,
      );
  }
  const checks = r.mixers.flatMap((m) => m.weight_checks.map((c) => ({ m: m.name, c })));
  if (checks.length > 0) {
    out.push("");
    out.push("weight checks (achieved share difference over seeds):");
    for (const { m, c } of checks)
      out.push(`  ${pad(m, 12)} ${c.lower} − ${c.than}: ${showInterval(c.diff)} (${c.below}/${c.of} seeds lower)${c.diff.hi < 0 ? " LOWER" : ""}`);
  }
  out.push("");
  out.push("achieved token share per domain (%, mean over seeds):");
  const w = Math.max(6, ...r.domains.map((d) => d.length));
  const ok = r.mixers.filter((m) => m.runs.some((x) => !x.error));
  out.push([pad("domain", w), ...ok.map((m) => pad(m.name, 10))].join("  "));
  for (const d of r.domains) out.push([pad(d, w), ...ok.map((m) => pad((100 * m.achieved[d].mean).toFixed(1), 10))].join("  "));
  return out.join("\n");
}
