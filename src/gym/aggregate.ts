/**
 * From per-seed runs to what the gym reports: every metric's mean and 95 % interval over seeds,
 * and each mixer's paired comparison with uniform on the same seeds (stats.ts). A mixer is
 * judged on its own objective (objectiveOf): DoReMi minimises the worst-domain excess loss
 * (Xie et al. 2023, eq. 1), DoGE in target mode the target set's loss (Fan et al. 2024, §2.2),
 * every other mixer the mean held-out loss.
 */
import type { Metric, MixerResult, MixerSummary } from "./report.js";
import { meanInterval, pairedComparison } from "./stats.js";

export interface WeightCheck {
  readonly lower: string;
  readonly than: string;
}

export function objectiveOf(name: string, dogeTarget: boolean): Metric {
  if (name === "doremi") return "worst_excess";
  if (name === "doge" && dogeTarget) return "target";
  return "mean";
}

export function metricOf(r: MixerResult, m: Metric): number {
  if (r.error) return NaN;
  switch (m) {
    case "mean":
      return r.mean;
    case "worst":
      return r.worst.loss;
    case "worst_excess":
      return r.worst_excess.excess;
    case "target":
      return r.target ?? NaN;
  }
}

const METRICS: Metric[] = ["mean", "worst", "worst_excess", "target"];

/** `runs[m][s]`: mixer m's run on seed s (same seed order for every mixer). */
export function summarise(runs: MixerResult[][], domains: readonly string[], opts: { dogeTarget: boolean; checks: readonly WeightCheck[] }): MixerSummary[] {
  const uniform = runs.find((r) => r[0]?.name === "uniform");
  const hasTarget = runs.some((rs) => rs.some((r) => r.target !== null));
  const metrics = METRICS.filter((m) => m !== "target" || hasTarget);
  return runs.map((rs) => {
    const ok = rs.filter((r) => !r.error);
    const of = (m: Metric) => rs.map((r) => metricOf(r, m));
    const s: MixerSummary = {
      name: rs[0].name,
      params: ok[0]?.params ?? {},
      seeds: rs.map((r) => r.seed),
      runs: rs,
      metrics: Object.fromEntries(metrics.map((m) => [m, meanInterval(of(m))])),
      heldout: Object.fromEntries(domains.map((d) => [d, meanInterval(ok.map((r) => r.heldout[d]))])),
      achieved: Object.fromEntries(domains.map((d) => [d, meanInterval(ok.map((r) => r.achieved[d]))])),
      vs_uniform: null,
      paired: {},
      weight_checks: opts.checks.map((c) => {
        const diffs = ok.map((r) => r.achieved[c.lower] - r.achieved[c.than]);
        return { lower: c.lower, than: c.than, diff: meanInterval(diffs), below: diffs.filter((x) => x < 0).length, of: diffs.length };
      }),
      curve: curveOf(ok),
      wall_seconds: rs.reduce((a, r) => a + r.wall_seconds, 0),
      errors: rs.filter((r) => r.error).map((r) => `seed ${r.seed}: ${r.error}`),
    };
    if (uniform && rs !== uniform) {
      for (const m of metrics)
        s.paired[m] = pairedComparison(
          of(m),
          uniform.map((r) => metricOf(r, m)),
        );
      const objective = objectiveOf(s.name, opts.dogeTarget);
      const p = s.paired[objective];
      if (p) s.vs_uniform = { objective, ...p };
    }
    return s;
  });
}

function curveOf(ok: MixerResult[]): MixerSummary["curve"] {
  if (ok.length === 0) return [];
  return ok[0].curve.map((point, k) => {
    const at = ok.map((r) => r.curve[k]).filter((p) => p !== undefined && p.step === point.step);
    const K = point.weights.length;
    const weights = Array.from({ length: K }, (_, i) => at.reduce((a, p) => a + p.weights[i], 0) / at.length);
    return { step: point.step, mean: meanInterval(at.map((p) => p.mean)), worst_excess: meanInterval(at.map((p) => p.worst_excess)), weights };
  });
}
