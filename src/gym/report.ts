/** What a gym run reports (the `--json` output), the summaries every mode shares, and the stdout table. */
import type { MixerState } from "../../mixers/contract.js";

export type PerDomain = Record<string, number>;

export interface WeightSummary {
  start: PerDomain;
  end: PerDomain;
  min: PerDomain;
  max: PerDomain;
  /** Mean over steps of the weights used (≈ the token share asked for). */
  mean: PerDomain;
}

export interface MixerResult {
  name: string;
  params: Record<string, unknown>;
  /** Final held-out mean loss per token (nats) per domain. */
  heldout: PerDomain;
  /** Unweighted mean over domains of `heldout`. */
  mean: number;
  worst: { domain: string; loss: number };
  /** max_i (heldout_i − reference_i): DoReMi's objective. */
  worst_excess: { domain: string; excess: number };
  weights: WeightSummary;
  /** Token share actually served per domain over the run. */
  achieved: PerDomain;
  /** Held-out mean and worst excess at every evaluation. */
  curve: { step: number; mean: number; worst_excess: number }[];
  /** Objective comparison with the uniform run (null when uniform was not run or this is uniform). */
  vs_uniform: { objective: "worst_excess" | "mean"; delta: number; beats_uniform: boolean } | null;
  wall_seconds: number;
  error?: string;
  final_state?: MixerState;
}

export interface GymReport {
  mode: "real" | "synthetic";
  config: string | null;
  steps: number;
  tokens_per_step: number;
  feedback_lag: number;
  eval_every: number;
  domains: string[];
  learner: Record<string, unknown>;
  reference: {
    mix: string;
    heldout: PerDomain;
    mean: number;
    entropy?: PerDomain;
    laws?: Record<string, { E: number; B: number; beta: number; rmse: number } | null>;
  };
  heldout_tokens?: PerDomain;
  mixers: MixerResult[];
}

/** Running min/max/mean of the weights a mixer used. */
export class WeightTracker {
  private readonly start: Float64Array;
  private readonly end: Float64Array;
  private readonly min: Float64Array;
  private readonly max: Float64Array;
  private readonly sum: Float64Array;
  private n = 0;

  constructor(private readonly names: readonly string[]) {
    const K = names.length;
    this.start = new Float64Array(K);
    this.end = new Float64Array(K);
    this.min = new Float64Array(K).fill(Infinity);
    this.max = new Float64Array(K).fill(-Infinity);
    this.sum = new Float64Array(K);
  }

  add(w: ArrayLike<number>): void {
    if (this.n === 0) this.start.set(w);
    this.end.set(w);
    for (let i = 0; i < w.length; i++) {
      this.min[i] = Math.min(this.min[i], w[i]);
      this.max[i] = Math.max(this.max[i], w[i]);
      this.sum[i] += w[i];
    }
    this.n += 1;
  }

  summary(): WeightSummary {
    const rec = (a: ArrayLike<number>, f = 1) =>
      perDomain(
        this.names,
        Array.from(a, (x) => x * f),
      );
    return { start: rec(this.start), end: rec(this.end), min: rec(this.min), max: rec(this.max), mean: rec(this.sum, 1 / Math.max(this.n, 1)) };
  }
}

export function perDomain(names: readonly string[], values: ArrayLike<number>): PerDomain {
  return Object.fromEntries(names.map((n, i) => [n, values[i]]));
}

/** Mean, worst domain and worst excess over the reference of per-domain held-out losses. */
export function objectives(names: readonly string[], loss: ArrayLike<number>, ref: ArrayLike<number>) {
  let mean = 0,
    worst = 0,
    worstExcess = 0;
  for (let i = 0; i < names.length; i++) {
    mean += loss[i] / names.length;
    if (loss[i] > loss[worst]) worst = i;
    if (loss[i] - ref[i] > loss[worstExcess] - ref[worstExcess]) worstExcess = i;
  }
  return {
    mean,
    worst: { domain: names[worst], loss: loss[worst] },
    worst_excess: { domain: names[worstExcess], excess: loss[worstExcess] - ref[worstExcess] },
  };
}

/** DoReMi is judged on worst-domain excess loss, every other mixer on mean held-out loss. */
export function compareWithUniform(results: MixerResult[]): void {
  const uniform = results.find((r) => r.name === "uniform" && !r.error);
  for (const r of results) {
    if (!uniform || r === uniform || r.error) {
      r.vs_uniform = null;
      continue;
    }
    const objective = r.name === "doremi" ? "worst_excess" : "mean";
    const delta = objective === "mean" ? r.mean - uniform.mean : r.worst_excess.excess - uniform.worst_excess.excess;
    r.vs_uniform = { objective, delta, beats_uniform: delta < 0 };
  }
}

const f3 = (x: number) => x.toFixed(3);
const pad = (s: string, n: number) => (s.length >= n ? s : s + " ".repeat(n - s.length));
const lpad = (s: string, n: number) => (s.length >= n ? s : " ".repeat(n - s.length) + s);

export function formatReport(r: GymReport): string {
  const out: string[] = [];
  out.push(
    `mixload gym (${r.mode}): ${r.steps} steps × ${r.tokens_per_step} tokens, feedback lag ${r.feedback_lag}, eval every ${r.eval_every}; ${r.domains.length} domains`,
  );
  out.push(`reference (${r.reference.mix} mix): mean held-out ${f3(r.reference.mean)}`);
  out.push("");
  const head = ["mixer", "mean", "worst (domain)", "worst excess (domain)", "objective vs uniform", "wall s"];
  const rows = r.mixers.map((m) => {
    if (m.error) return [m.name, "error", m.error, "", "", m.wall_seconds.toFixed(1)];
    const vs = m.vs_uniform
      ? `${m.vs_uniform.objective} ${m.vs_uniform.delta >= 0 ? "+" : ""}${f3(m.vs_uniform.delta)} ${m.vs_uniform.beats_uniform ? "BEATS" : "no"}`
      : "—";
    return [
      m.name,
      f3(m.mean),
      `${f3(m.worst.loss)} (${m.worst.domain})`,
      `${f3(m.worst_excess.excess)} (${m.worst_excess.domain})`,
      vs,
      m.wall_seconds.toFixed(1),
    ];
  });
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
  out.push(head.map((h, c) => pad(h, widths[c])).join("  "));
  for (const row of rows) out.push(row.map((x, c) => (c === 0 || c === 2 || c === 3 || c === 4 ? pad(x, widths[c]) : lpad(x, widths[c]))).join("  "));
  const ok = r.mixers.filter((m) => !m.error);
  if (ok.length > 0) {
    out.push("");
    out.push("held-out loss per domain, and weights (start → end, [min, max]) in %:");
    const w = Math.max(6, ...r.domains.map((d) => d.length));
    out.push([pad("domain", w), lpad("ref", 6), ...ok.map((m) => lpad(m.name, 28))].join("  "));
    for (const d of r.domains) {
      const cells = ok.map((m) => {
        const ws = m.weights;
        const pct = (x: number) => (100 * x).toFixed(1);
        return lpad(`${f3(m.heldout[d])} ${pct(ws.start[d])}→${pct(ws.end[d])} [${pct(ws.min[d])},${pct(ws.max[d])}]`, 28);
      });
      out.push([pad(d, w), lpad(f3(r.reference.heldout[d]), 6), ...cells].join("  "));
    }
  }
  return out.join("\n");
}
