/**
 * Golden trace: every mixer over one fixed feedback sequence, compared bit for bit with the
 * trace recorded before the mixers were restructured (issue 15, item 6). What is compared:
 * - the weights after every step, as the hex of their float64 bytes (every ulp, −0 ≠ 0);
 * - state() after every step, as JSON (the resume-blob format: same keys, same numbers);
 * - the message of every MixerInputError the sequence provokes;
 * - describe() at the end (fitted laws, averages, signals);
 * - restoring each recorded state blob into a fresh mixer and replaying the rest of the
 *   sequence gives the recorded weights (old run directories and resume blobs still load).
 *
 * Regenerate (only when a behaviour change is intended, and say so in the commit):
 *   MIXLOAD_WRITE_GOLDEN=1 npx vitest run test/mixers/golden.test.ts
 */
import { mulberry32 } from "../../src/util/hash.js";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { createMixer, type MixerSpec } from "../../mixers/registry.js";
import type { DomainFeedback, MixerState, StepFeedback } from "../../mixers/contract.js";
import { fitDataLaw } from "../../mixers/fit.js";
import { doms } from "./helpers.js";

const GOLDEN = fileURLToPath(new URL("./golden.json", import.meta.url));
const K = 4;
const domains = doms(K, (i) => ({ entropy: 1 + 0.5 * i, refLoss: 1 + 0.25 * i }));

const SPECS: MixerSpec[] = [
  {
    name: "static",
    params: {
      phases: [{ until_step: 5, weights: { d0: 1, d1: 1 } }, { until_tokens: 40_000, weights: { d1: 1, d2: 2, d3: 1 } }, { weights: { d3: 1 } }],
      interpolate: true,
      tokens_per_step: 2048,
    },
  },
  { name: "static", params: { weights: { d0: 3, d2: 1 } } },
  { name: "uniform" },
  { name: "natural" },
  { name: "temperature", params: { T: 3.3 } },
  { name: "doremi", params: { eta: 0.5, c: 0.05, vocab_size: 100 } },
  { name: "doremi", params: { eta: 1, c: 0 } },
  { name: "doremi", params: { eta: 0.1, ref_losses: { d1: 2 } } },
  { name: "doge", params: { mu: 0.01, eps: 0.02 } },
  { name: "doge", params: { dw_min: -2, dw_max: 3 } },
  { name: "velocitune", params: { update_every: 2, target_tokens: 1e6, eps: 0.05 } },
  {
    name: "velocitune",
    params: {
      update_every: 3,
      targets: { d0: 1, d1: 1.5 },
      initial_losses: { d2: 6 },
      target_tokens: 1e7,
      proxy: { d2: { tokens: [1e3, 1e4, 1e5, 1e6], loss: [5, 3.5, 2.8, 2.5] }, d3: { tokens: [1e3, 1e4, 1e5], loss: [6, 4, 3.2] } },
    },
  },
  { name: "bimix", params: { refit_every: 3, target_step: 100, r_min: 0.01 } },
  {
    name: "bimix",
    params: {
      target_step: 1000,
      start: "natural",
      fit_until_step: 300,
      points: ["d0", "d1", "d2", "d3"].flatMap((d, i) =>
        [0.1, 0.25, 0.5].flatMap((r) =>
          [10, 50, 100, 200, 400].map((s) => ({ domain: d, r, s, loss: ((1.5 + 0.1 * i) / Math.pow(r, 0.05 + 0.02 * i)) * (3 / Math.pow(s, 0.3) + 1) })),
        ),
      ),
    },
  },
  { name: "odm", params: { eps: 0.05, warmup_steps: 1 } },
  { name: "odm", params: { cumulative: true, initial: "uniform" } },
  { name: "ado", params: { start_step: 2, ignore_steps: 0, update_every: 3, subsample: 1, eps: 0.05 } },
  { name: "ado", params: { start_step: 4, ignore_steps: 1, update_every: 4, subsample: 2, same_step_size: false, max_points: 10 } },
  { name: "aioli", params: { update_steps: 7, lp_rounds: 1, lp_steps: 1, one_hot_factor: 0.7, eps: 0.02 } },
  { name: "aioli", params: { update_steps: 12, lp_rounds: 2, lp_steps: 1, normalize_a: false, ema: 0.3 } },
];

/** 40 steps with gaps, absent domains, every optional signal sometimes, −0s, and three invalid steps. */
function sequence(): StepFeedback[] {
  const r = mulberry32(20261115);
  const out: StepFeedback[] = [];
  let step = -1;
  for (let t = 0; t < 40; t++) {
    step += r() < 0.8 ? 1 : 2;
    const m = new Map<number, DomainFeedback>();
    for (let i = 0; i < K; i++) {
      if (r() < 0.15) continue;
      const tokens = Math.floor(r() * 3000) + (r() < 0.05 ? 0 : 1);
      const perToken = (4 + i) * Math.pow(step + 1, -0.2) + 0.3 * r();
      const d: DomainFeedback = { loss_sum: perToken * tokens, tokens };
      if (r() < 0.8) d.excess_loss_sum = 0.2 * r() * perToken * tokens;
      if (r() < 0.6) d.ref_loss_sum = (0.7 + 0.2 * r()) * perToken * tokens;
      if (r() < 0.9) d.grad_alignment = r() < 0.05 ? -0 : 20 * r() - 6;
      if (r() < 0.3) d.eval_loss = perToken + 0.1 * r();
      m.set(i, d);
    }
    if (m.size === 0) m.set(0, { loss_sum: 3, tokens: 1, excess_loss_sum: 0.1, grad_alignment: 1 });
    out.push({ step, domains: m, ...(r() < 0.7 ? { lr: 1e-3 * r() } : {}) });
    if (t === 10) out.push({ step: step + 1, domains: new Map([[1, { loss_sum: NaN, tokens: 3 }]]) });
    if (t === 20) out.push({ step, domains: new Map([[2, { loss_sum: 1, tokens: 1 }]]) });
    if (t === 30)
      out.push({
        step: step + 1,
        domains: new Map([
          [0, { loss_sum: 1, tokens: 1, grad_alignment: 1 }],
          [2, { loss_sum: 1, tokens: 1, excess_loss_sum: -1 }],
        ]),
      });
  }
  return out;
}

const hex = (w: Float64Array) => Buffer.from(w.buffer, w.byteOffset, w.byteLength).toString("hex");
const sha = (s: string) => createHash("sha256").update(s).digest("hex");
const label = (s: MixerSpec, i: number) => `${i} ${s.name} ${JSON.stringify(s.params ?? {}).slice(0, 60)}`;

interface Trace {
  /** Weights after each step (or the error of that step), hex float64. */
  weights: string[];
  errors: (string | null)[];
  /** JSON of state() after each step. Stored as one digest per step to keep the file small. */
  state_sha: string[];
  /** The states at a few cut points, stored in full: the old-format blobs restore() must load. */
  blobs: Record<string, MixerState>;
  describe_sha: string;
  final_state: MixerState;
}

const CUTS = [0, 5, 17, 33];

function trace(spec: MixerSpec, seq: StepFeedback[]): Trace {
  const m = createMixer(spec, domains);
  const t: Trace = { weights: [hex(m.weights(0))], errors: [null], state_sha: [sha(JSON.stringify(m.state()))], blobs: {}, describe_sha: "", final_state: {} };
  seq.forEach((f, j) => {
    let err: string | null = null;
    try {
      m.update(f);
    } catch (e) {
      err = `${(e as Error).name}: ${(e as Error).message}`;
    }
    t.weights.push(hex(m.weights(f.step + 1)));
    t.errors.push(err);
    const s = JSON.stringify(m.state());
    t.state_sha.push(sha(s));
    if (CUTS.includes(j)) t.blobs[j] = JSON.parse(s) as MixerState;
  });
  t.describe_sha = sha(JSON.stringify(m.describe()));
  t.final_state = JSON.parse(JSON.stringify(m.state())) as MixerState;
  return t;
}

/** fitDataLaw on fixed curves (the gym calls it; velocitune uses it for targets). */
function lawTrace(): string[] {
  const curves: [number[], number[]][] = [
    [
      [1e3, 1e4, 1e5, 1e6],
      [5, 3.5, 2.8, 2.5],
    ],
    [
      [10, 20, 40, 80, 160],
      [9, 7.1, 6, 5.4, 5.1],
    ],
    [
      [1, 2, 3],
      [1, 1, 1],
    ],
  ];
  return curves.map(([D, L]) => {
    const f = fitDataLaw(D, L);
    return hex(Float64Array.from([f.E, f.B, f.beta, f.rmse, ...f.residuals]));
  });
}

const seq = sequence();

if (process.env.MIXLOAD_WRITE_GOLDEN === "1") {
  const golden = { mixers: Object.fromEntries(SPECS.map((s, i) => [label(s, i), trace(s, seq)])), fit_data_law: lawTrace() };
  writeFileSync(GOLDEN, JSON.stringify(golden, null, 1) + "\n");
}

const golden = existsSync(GOLDEN) ? (JSON.parse(readFileSync(GOLDEN, "utf8")) as { mixers: Record<string, Trace>; fit_data_law: string[] }) : null;

describe("golden trace (bit-identical to the recorded behaviour)", () => {
  it("the golden file exists and covers every spec", () => {
    expect(golden).not.toBeNull();
    expect(Object.keys(golden!.mixers)).toEqual(SPECS.map(label));
  });

  it.each(SPECS.map((s, i) => [label(s, i), s] as const))("%s: weights, errors, states, describe()", (name, spec) => {
    const want = golden!.mixers[name];
    const got = trace(spec, seq);
    expect(got.weights).toEqual(want.weights);
    expect(got.errors).toEqual(want.errors);
    expect(got.state_sha).toEqual(want.state_sha);
    expect(got.describe_sha).toBe(want.describe_sha);
    expect(got.final_state).toEqual(want.final_state);
  });

  it.each(SPECS.map((s, i) => [label(s, i), s] as const))("%s: recorded state blobs restore and replay the rest exactly", (name, spec) => {
    const want = golden!.mixers[name];
    for (const [cut, blob] of Object.entries(want.blobs)) {
      const m = createMixer(spec, domains);
      m.restore(structuredClone(blob));
      expect(JSON.stringify(m.state())).toBe(JSON.stringify(blob));
      seq.slice(Number(cut) + 1).forEach((f, k) => {
        try {
          m.update(f);
        } catch {
          // the recorded errors are checked above; here only the weights after them matter
        }
        expect(hex(m.weights(f.step + 1))).toBe(want.weights[Number(cut) + 2 + k]);
      });
    }
  });

  it("fitDataLaw", () => {
    expect(lawTrace()).toEqual(golden!.fit_data_law);
  });
});
