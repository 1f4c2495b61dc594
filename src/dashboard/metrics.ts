/**
 * Prometheus text exposition (format 0.0.4) of a run: what a training cluster's scraper
 * collects next to the trainer's own metrics. Per-domain series carry a `domain` label.
 */
import type { RunModel } from "../report/model.js";

const label = (s: string): string => s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
const num = (x: number): string => (Number.isNaN(x) ? "NaN" : x === Infinity ? "+Inf" : x === -Infinity ? "-Inf" : String(x));

export function metricsText(model: RunModel): string {
  const out: string[] = [];
  const metric = (name: string, type: "gauge" | "counter", help: string, samples: [Record<string, string>, number][]): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of samples) {
      const ls = Object.entries(labels)
        .map(([k, x]) => `${k}="${label(x)}"`)
        .join(",");
      out.push(`${name}${ls ? `{${ls}}` : ""} ${num(v)}`);
    }
  };
  const live = model.liveStats;
  const weights = model.currentWeights();
  const loss = model.recentLoss();
  const run = { run_id: model.info.run_id, mixer: model.info.mixer };
  metric("mixload_info", "gauge", "Run identity (always 1).", [[run, 1]]);
  metric("mixload_steps_built", "gauge", "Steps built (one past the last logged batch).", [[{}, model.steps]]);
  metric("mixload_feedback_steps_folded", "counter", "Feedback steps folded into the mixer.", [[{}, model.foldedSteps]]);
  metric("mixload_weights_version", "gauge", "Version of the weights in force.", [[{}, model.weightsVersion]]);
  if (live) {
    metric("mixload_steps_served", "gauge", "Steps every rank has fetched.", [[{}, live.steps_served]]);
    metric("mixload_tokens_served_total", "counter", "Non-padding tokens served (first fetch of each rank share).", [[{}, live.tokens_served]]);
    metric("mixload_fill_rate", "gauge", "Non-padding share of served positions.", [[{}, live.fill_rate]]);
    metric(
      "mixload_domain_achieved_share",
      "gauge",
      "Share of served tokens per domain.",
      model.info.domains.map((d) => [{ domain: d }, live.achieved[d] ?? 0]),
    );
  }
  metric(
    "mixload_domain_weight",
    "gauge",
    "Mixture weight of the latest built step.",
    model.info.domains.map((d) => [{ domain: d }, weights[d]]),
  );
  metric(
    "mixload_domain_loss",
    "gauge",
    "Training loss per token (nats), token-weighted over the last 10 folded steps.",
    model.info.domains.map((d) => [{ domain: d }, loss[d]]),
  );
  return `${out.join("\n")}\n`;
}
