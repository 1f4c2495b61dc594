/**
 * Mixer update cost for 64 domains (targets: DoReMi and DoGE ≤ 100 µs per update; BiMix fit
 * of 64 domains × 1000 ⟨r, s, L⟩ points ≤ 2 s). Feedback is synthetic but deterministic
 * (a fixed LCG), every domain present every step, so each update does the full work.
 * Fits are reported as one "update" = the whole fit.
 */
import { createMixer, type MixerSpec } from "../mixers/registry.js";
import type { DomainFeedback, DomainInfo, StepFeedback } from "../mixers/types.js";

export interface MixerBench {
  name: string;
  microsPerUpdate: number;
}

const K = 64;

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

function feedback(steps: number, rand: () => number): StepFeedback[] {
  return Array.from({ length: steps }, (_, t) => {
    const m = new Map<number, DomainFeedback>();
    for (let i = 0; i < K; i++) {
      const tokens = 500 + Math.floor(rand() * 1000);
      const loss = 2 + 3 / Math.sqrt(t + 1) + rand();
      m.set(i, { loss_sum: loss * tokens, tokens, excess_loss_sum: 0.3 * rand() * tokens, grad_alignment: rand() - 0.3 });
    }
    return { step: t, domains: m, lr: 3e-4 };
  });
}

function timeUpdates(spec: MixerSpec, domains: DomainInfo[], steps: number): number {
  const fbs = feedback(steps, lcg(1));
  const warm = createMixer(spec, domains);
  fbs.slice(0, Math.min(50, steps)).forEach((f) => warm.update(f)); // JIT warm-up
  const m = createMixer(spec, domains);
  const t0 = performance.now();
  for (const f of fbs) m.update(f);
  return ((performance.now() - t0) * 1000) / steps;
}

function timeOnce(build: () => void): number {
  const t0 = performance.now();
  build();
  return (performance.now() - t0) * 1000;
}

export function benchMixerUpdates(): MixerBench[] {
  const domains: DomainInfo[] = Array.from({ length: K }, (_, i) => ({ name: `d${i}`, tokens: 1e6 * (1 + (i % 7)), entropy: 3 + (i % 5) * 0.1 }));
  const out: MixerBench[] = [
    { name: "doremi", microsPerUpdate: timeUpdates({ name: "doremi", params: { eta: 0.1, vocab_size: 50257 } }, domains, 2000) },
    { name: "doge", microsPerUpdate: timeUpdates({ name: "doge" }, domains, 2000) },
    { name: "odm", microsPerUpdate: timeUpdates({ name: "odm" }, domains, 2000) },
    {
      name: "ado (between refits)",
      microsPerUpdate: timeUpdates({ name: "ado", params: { start_step: 0, ignore_steps: 0, update_every: 100000 } }, domains, 2000),
    },
    {
      name: "velocitune (update every step, fixed targets)",
      microsPerUpdate: timeUpdates(
        { name: "velocitune", params: { update_every: 1, targets: Object.fromEntries(domains.map((d) => [d.name, 1])) } },
        domains,
        2000,
      ),
    },
    { name: "uniform", microsPerUpdate: timeUpdates({ name: "uniform" }, domains, 2000) },
  ];
  // BiMix: 64 domains × 1000 tuples (10 mixtures × 100 steps) from a known law plus 0.5% noise.
  const rand = lcg(7);
  const points: { domain: string; r: number; s: number; loss: number }[] = [];
  for (const d of domains) {
    const A = 2 + rand(),
      alpha = 0.05 + 0.2 * rand(),
      B = 1 + rand(),
      beta = 0.3 + 0.4 * rand();
    for (let mix = 0; mix < 10; mix++) {
      const r = 0.002 + 0.03 * rand();
      for (let s = 1; s <= 100; s++)
        points.push({ domain: d.name, r, s: s * 100, loss: A * r ** -alpha * (B * (s * 100) ** -beta + 1) * (1 + 0.005 * (rand() - 0.5)) });
    }
  }
  out.push({
    name: "bimix fit + optimise (64 domains × 1000 points)",
    microsPerUpdate: timeOnce(() => createMixer({ name: "bimix", params: { points, target_step: 20000, r_min: 1e-3 } }, domains)),
  });
  return out;
}
