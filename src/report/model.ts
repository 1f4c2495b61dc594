/**
 * What the report and the live dashboard plot, computed from schedule-log records (and, when
 * available, per-step packing figures from a rebuild, or the service's `stats`). One model
 * for both: the report feeds it a whole log at once, the dashboard feeds it lines as the
 * service writes them and asks for `charts()` whenever a browser needs a refresh.
 *
 * Long runs are bucketed to at most `maxPoints` steps per series; losses are token-weighted
 * means over a trailing window (Σ loss_sum / Σ tokens), so a domain with 30 tokens in a step
 * does not draw noise.
 */
import type { ScheduleRecord } from "../serve/run-log.js";

export interface PackingPoint {
  step: number;
  /** Non-padding tokens / (rows × L) of this step. */
  fill: number;
  /** Cumulative document cuts, and the cuts that were unavoidable. */
  truncations: number;
  min_truncations: number;
  /** Non-padding tokens of this step per domain (domain order). */
  domain_tokens: number[];
}

/** Live service counters (the `stats` op) the dashboard adds. */
export interface LiveStats {
  steps_served: number;
  tokens_served: number;
  fill_rate: number;
  achieved: Record<string, number>;
  built_step?: number;
  weights_version?: number;
  folded_step?: number;
  uptime_s?: number;
}

export interface DomainSummary {
  name: string;
  w_start: number;
  w_end: number;
  w_mean: number;
  /** Token-weighted mean loss over the first and the last tenth of the folded steps (NaN without feedback). */
  loss_start: number;
  loss_end: number;
  achieved: number;
}

export interface ChartData {
  run_id: string;
  mixer: string;
  /** Steps built (one past the last batch record). */
  steps: number;
  folded: number;
  weights_version: number;
  updated_at: number;
  summary: DomainSummary[];
  tables: {
    weights: { step: number; domain: string; weight: number }[];
    loss: { step: number; domain: string; loss: number }[];
    shares: { domain: string; kind: "target" | "achieved"; share: number }[];
    packing: { step: number; metric: string; value: number }[];
    throughput: { step: number; tokens_per_s: number }[];
  };
  /** Where achieved shares and packing figures came from. */
  sources: { achieved: string; packing: string };
  live?: LiveStats;
}

export interface RunInfo {
  run_id: string;
  mixer: string;
  domains: readonly string[];
  /** rows × seq_len of a global step (throughput when no packing figures are known). */
  tokens_per_step: number;
}

export class RunModel {
  private readonly K: number;
  /** step → weights (domain order) of built steps. */
  private readonly stepWeights = new Map<number, number[]>();
  private readonly stepTime = new Map<number, number>();
  /** step → [loss_sum, tokens] per domain (NaN-free; tokens 0 = absent). */
  private readonly feedback = new Map<number, { loss: Float64Array; tokens: Float64Array }>();
  private readonly packing = new Map<number, PackingPoint>();
  private version = 0;
  /** The weights in force at the start (before any step is built). */
  private announced: number[] | null = null;
  private live: LiveStats | undefined;
  /** (steps served, cumulative fill rate) samples of the live stats, one per new step count. */
  private readonly liveFill: { step: number; fill: number }[] = [];
  /** Bumped on every change; the dashboard pushes when it moves. */
  revision = 0;

  constructor(readonly info: RunInfo) {
    this.K = info.domains.length;
  }

  add(record: ScheduleRecord & { t?: number }): void {
    const d = this.info.domains;
    if (record.type === "batch") {
      this.stepWeights.set(
        record.step,
        d.map((n) => record.weights[n] ?? 0),
      );
      if (typeof record.t === "number") this.stepTime.set(record.step, record.t);
    } else if (record.type === "feedback") {
      const loss = new Float64Array(this.K),
        tokens = new Float64Array(this.K);
      d.forEach((n, i) => {
        const f = record.domains[n];
        if (f === undefined || !(f.tokens > 0)) return;
        loss[i] = f.loss_sum;
        tokens[i] = f.tokens;
      });
      this.feedback.set(record.step, { loss, tokens });
    } else if (record.type === "weights") {
      this.version = Math.max(this.version, record.version);
      if (record.effective_step === 0 || this.announced === null) this.announced = d.map((n) => record.weights[n] ?? 0);
    }
    this.revision += 1;
  }

  addPacking(p: PackingPoint): void {
    this.packing.set(p.step, p);
    this.revision += 1;
  }

  setLive(s: LiveStats): void {
    const last = this.liveFill.at(-1);
    if (s.steps_served > 0 && (last === undefined || last.step !== s.steps_served)) this.liveFill.push({ step: s.steps_served, fill: s.fill_rate });
    // Uptime alone is no change: an idle run should not re-push (and redraw) every poll.
    const same = (a: LiveStats | undefined): boolean => a !== undefined && JSON.stringify({ ...a, uptime_s: 0 }) === JSON.stringify({ ...s, uptime_s: 0 });
    if (!same(this.live)) this.revision += 1;
    this.live = s;
  }

  get steps(): number {
    let m = -1;
    for (const s of this.stepWeights.keys()) if (s > m) m = s;
    return m + 1;
  }

  /** Latest built step's weights, by name. */
  currentWeights(): Record<string, number> {
    const w = this.stepWeights.get(this.steps - 1) ?? this.announced;
    return Object.fromEntries(this.info.domains.map((n, i) => [n, w?.[i] ?? NaN]));
  }

  /** Token-weighted mean loss per domain over the last `window` folded steps. */
  recentLoss(window = 10): Record<string, number> {
    const steps = [...this.feedback.keys()].sort((a, b) => a - b).slice(-window);
    return Object.fromEntries(
      this.info.domains.map((n, i) => {
        let l = 0,
          t = 0;
        for (const s of steps) {
          const f = this.feedback.get(s)!;
          l += f.loss[i];
          t += f.tokens[i];
        }
        return [n, t > 0 ? l / t : NaN];
      }),
    );
  }

  get liveStats(): LiveStats | undefined {
    return this.live;
  }

  get foldedSteps(): number {
    return this.feedback.size;
  }

  get weightsVersion(): number {
    return this.live?.weights_version ?? this.version;
  }

  charts(maxPoints = 400): ChartData {
    const names = this.info.domains;
    const K = this.K;
    const T = this.steps;
    const width = Math.max(1, Math.ceil(T / maxPoints));
    const tables: ChartData["tables"] = { weights: [], loss: [], shares: [], packing: [], throughput: [] };

    // Weights: bucket means, drawn at the bucket's first step.
    const wMean = new Array<number>(K).fill(0);
    let wN = 0;
    for (let s0 = 0; s0 < T; s0 += width) {
      const acc = new Array<number>(K).fill(0);
      let n = 0;
      for (let s = s0; s < Math.min(T, s0 + width); s++) {
        const w = this.stepWeights.get(s);
        if (!w) continue;
        for (let i = 0; i < K; i++) {
          acc[i] += w[i];
          wMean[i] += w[i];
        }
        n += 1;
        wN += 1;
      }
      if (n > 0) names.forEach((domain, i) => tables.weights.push({ step: s0, domain, weight: acc[i] / n }));
    }

    // Loss: trailing window, token-weighted, sampled every `width` steps.
    const fsteps = [...this.feedback.keys()].sort((a, b) => a - b);
    const win = Math.max(5, Math.ceil(fsteps.length / 30));
    const lossAt = (from: number, to: number, i: number): number => {
      let l = 0,
        t = 0;
      for (let k = Math.max(0, from); k < Math.min(to, fsteps.length); k++) {
        const f = this.feedback.get(fsteps[k])!;
        l += f.loss[i];
        t += f.tokens[i];
      }
      return t > 0 ? l / t : NaN;
    };
    const fwidth = Math.max(1, Math.ceil(fsteps.length / maxPoints));
    for (let k = 0; k < fsteps.length; k += fwidth) {
      const end = Math.min(fsteps.length, k + fwidth);
      names.forEach((domain, i) => {
        const loss = lossAt(end - win, end, i);
        if (Number.isFinite(loss)) tables.loss.push({ step: fsteps[end - 1], domain, loss });
      });
    }

    // Achieved shares: packing rebuild > live stats > feedback token counts.
    const achieved = new Array<number>(K).fill(0);
    let achievedSource = "none";
    if (this.packing.size > 0) {
      for (const p of this.packing.values()) p.domain_tokens.forEach((n, i) => (achieved[i] += n));
      achievedSource = "rebuilt batches (non-padding tokens per domain)";
    } else if (this.live && this.live.tokens_served > 0) {
      names.forEach((n, i) => (achieved[i] = this.live!.achieved[n] ?? 0));
      achievedSource = "service stats (tokens served)";
    } else if (this.feedback.size > 0) {
      for (const f of this.feedback.values()) f.tokens.forEach((n, i) => (achieved[i] += n));
      achievedSource = "feedback token counts (target positions)";
    }
    const aTotal = achieved.reduce((a, b) => a + b, 0);
    names.forEach((domain, i) => {
      tables.shares.push({ domain, kind: "target", share: wN > 0 ? wMean[i] / wN : 0 });
      tables.shares.push({ domain, kind: "achieved", share: aTotal > 0 ? achieved[i] / aTotal : 0 });
    });

    // Packing: fill per step (bucketed) and cumulative truncations from a rebuild; else the live fill rate.
    let packingSource = "none";
    if (this.packing.size > 0) {
      packingSource = "rebuilt batches";
      const ps = [...this.packing.values()].sort((a, b) => a.step - b.step);
      for (let k = 0; k < ps.length; k += width) {
        const chunk = ps.slice(k, k + width);
        const last = chunk[chunk.length - 1];
        tables.packing.push({ step: chunk[0].step, metric: "fill rate", value: chunk.reduce((a, p) => a + p.fill, 0) / chunk.length });
        tables.packing.push({ step: last.step, metric: "truncations (cumulative)", value: last.truncations });
        tables.packing.push({ step: last.step, metric: "minimum possible truncations", value: last.min_truncations });
      }
    } else if (this.live) {
      packingSource = "service stats (cumulative fill rate)";
      const every = Math.max(1, Math.ceil(this.liveFill.length / maxPoints));
      this.liveFill.forEach((p, k) => {
        if (k % every === 0 || k === this.liveFill.length - 1) tables.packing.push({ step: p.step, metric: "fill rate", value: p.fill });
      });
    }

    // Throughput: tokens built per second over a trailing window of batch records (their `t`),
    // sampled every `every` records and at the latest one, so the series starts at the second
    // record and grows with the run (a fixed 10-step bucket drew one lone point for the first
    // 20 steps of a live run).
    const times = [...this.stepTime.entries()].sort((a, b) => a[0] - b[0]);
    const tokensOf = (s: number): number => {
      const p = this.packing.get(s);
      if (p) return p.domain_tokens.reduce((a, b) => a + b, 0);
      const f = this.feedback.get(s);
      if (f) return f.tokens.reduce((a, b) => a + b, 0);
      return this.info.tokens_per_step;
    };
    const every = Math.max(width, Math.ceil(times.length / 100));
    const trail = Math.max(every, 10);
    for (let k = 1; k < times.length; k++) {
      if (k % every !== 0 && k !== times.length - 1) continue;
      const [s1, t1] = times[k];
      const [s0, t0] = times[Math.max(0, k - trail)];
      if (t1 <= t0) continue;
      let tok = 0;
      for (let s = s0 + 1; s <= s1; s++) tok += tokensOf(s);
      tables.throughput.push({ step: s1, tokens_per_s: (tok * 1000) / (t1 - t0) });
    }

    const tenth = Math.max(1, Math.floor(fsteps.length / 10));
    const first = this.stepWeights.get(0) ?? this.stepWeights.get(Math.min(...this.stepWeights.keys()));
    const last = this.stepWeights.get(T - 1);
    const summary: DomainSummary[] = names.map((name, i) => ({
      name,
      w_start: first?.[i] ?? NaN,
      w_end: last?.[i] ?? NaN,
      w_mean: wN > 0 ? wMean[i] / wN : NaN,
      loss_start: lossAt(0, tenth, i),
      loss_end: lossAt(fsteps.length - tenth, fsteps.length, i),
      achieved: aTotal > 0 ? achieved[i] / aTotal : NaN,
    }));
    const out: ChartData = {
      run_id: this.info.run_id,
      mixer: this.info.mixer,
      steps: T,
      folded: this.feedback.size,
      weights_version: this.weightsVersion,
      updated_at: Date.now(),
      summary,
      tables,
      sources: { achieved: achievedSource, packing: packingSource },
    };
    if (this.live) out.live = this.live;
    return out;
  }
}
