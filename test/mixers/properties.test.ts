/**
 * What must hold for every mixer, whatever the feedback:
 * - weights stay on the simplex and never below the mixer's floor (describe().floor);
 * - state() → JSON → restore() into a fresh instance gives bit-identical next weights;
 * - invalid input throws MixerInputError and leaves state() deep-equal to before;
 * - a corrupt or foreign resume state throws ConfigError naming the field (mixer.state.<key>)
 *   and leaves the mixer exactly as it was.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createMixer, type MixerSpec } from "../../mixers/registry.js";
import { ConfigError, MixerInputError, type DomainFeedback, type Mixer, type MixerState, type StepFeedback } from "../../mixers/contract.js";
import { doms, feedbackRun, sameBits } from "./helpers.js";

const K = 4;
const domains = doms(K, (i) => ({ entropy: 1 + 0.5 * i, refLoss: 1 + i }));

/** Params chosen so short runs exercise every branch (windows close, laws get fitted, warm-ups end). */
const SPECS: MixerSpec[] = [
  { name: "static", params: { phases: [{ until_step: 3, weights: { d0: 1, d1: 1 } }, { weights: { d1: 1, d2: 2, d3: 1 } }], interpolate: true } },
  { name: "uniform" },
  { name: "natural" },
  { name: "temperature", params: { T: 2 } },
  { name: "doremi", params: { eta: 0.5, c: 0.05, vocab_size: 100 } },
  { name: "doremi", params: { eta: 1, c: 0 } },
  { name: "doge", params: { mu: 0.01, eps: 0.02 } },
  { name: "velocitune", params: { update_every: 2, target_tokens: 1e6, eps: 0.05 } },
  { name: "bimix", params: { refit_every: 3, target_step: 100, r_min: 0.01 } },
  { name: "odm", params: { eps: 0.05, warmup_steps: 1 } },
  { name: "ado", params: { start_step: 2, ignore_steps: 0, update_every: 3, subsample: 1, eps: 0.05 } },
  { name: "aioli", params: { update_steps: 6, lp_rounds: 1, lp_steps: 1, one_hot_factor: 0.7, eps: 0.05 } },
  { name: "aioli", params: { update_steps: 14, lp_rounds: 2, lp_steps: 1, normalize_a: false, ema: 0.5, initial: "natural" } },
];

const label = (s: MixerSpec) => `${s.name} ${JSON.stringify(s.params ?? {})}`;
const make = (s: MixerSpec) => createMixer(s, domains);

function expectOnSimplex(m: Mixer, step: number) {
  const w = m.weights(step);
  const floor = m.describe().floor as number;
  expect(w.length).toBe(K);
  expect(Math.abs(w.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-12);
  for (const x of w) {
    expect(Number.isFinite(x)).toBe(true);
    expect(x).toBeGreaterThanOrEqual(floor * (1 - 1e-12) - 1e-300);
  }
}

const RUNS = { numRuns: 60 };

describe.each(SPECS.map((s) => [label(s), s] as const))("%s", (_, spec) => {
  it("stays on the simplex above its floor for any finite feedback", () => {
    fc.assert(
      fc.property(feedbackRun(K, 1, 14), (run) => {
        const m = make(spec);
        expectOnSimplex(m, 0);
        for (const f of run) {
          m.update(f);
          expectOnSimplex(m, f.step + 1);
        }
      }),
      RUNS,
    );
  });

  it("never leaves the simplex: extreme finite values either throw MixerInputError or keep weights valid", () => {
    const wild = fc.record({
      loss_sum: fc.double({ min: 0, max: Number.MAX_VALUE, noNaN: true }),
      tokens: fc.nat(),
      grad_alignment: fc.double({ noNaN: true, noDefaultInfinity: true }),
      excess_loss_sum: fc.double({ min: 0, max: Number.MAX_VALUE, noNaN: true }),
    });
    fc.assert(
      fc.property(
        fc.array(fc.array(wild, { minLength: K, maxLength: K }), { minLength: 1, maxLength: 8 }),
        fc.double({ min: 0, max: 1e6, noNaN: true }),
        (steps, lr) => {
          const m = make(spec);
          steps.forEach((ds, t) => {
            const before = m.state();
            try {
              m.update({ step: t, lr, domains: new Map(ds.map((d, i) => [i, d])) });
            } catch (e) {
              expect(e).toBeInstanceOf(MixerInputError);
              expect(m.state()).toEqual(before);
            }
            expectOnSimplex(m, t + 1);
          });
        },
      ),
      { numRuns: 30 },
    );
  });

  it("state() → JSON → restore() gives bit-identical next weights", () => {
    fc.assert(
      fc.property(feedbackRun(K, 2, 14), fc.nat(), (run, cut) => {
        const split = 1 + (cut % (run.length - 1));
        const a = make(spec);
        run.slice(0, split).forEach((f) => a.update(f));
        const b = make(spec);
        b.restore(JSON.parse(JSON.stringify(a.state())) as Record<string, unknown>);
        expect(sameBits(b.weights(run[split - 1].step + 1), a.weights(run[split - 1].step + 1))).toBe(true);
        for (const f of run.slice(split)) {
          a.update(f);
          b.update(f);
          expect(sameBits(b.weights(f.step + 1), a.weights(f.step + 1))).toBe(true);
        }
        expect(b.state()).toEqual(a.state());
      }),
      RUNS,
    );
  });

  it("invalid input throws MixerInputError and leaves the state untouched", () => {
    const good: DomainFeedback = { loss_sum: 4, tokens: 2, excess_loss_sum: 1, grad_alignment: 0.5 };
    const corruptions: ((last: number) => StepFeedback)[] = [
      (s) => ({ step: s + 1, domains: new Map([[0, { ...good, loss_sum: NaN }]]) }),
      (s) => ({ step: s + 1, domains: new Map([[1, { ...good, loss_sum: Infinity }]]) }),
      (s) => ({ step: s + 1, domains: new Map([[1, { ...good, loss_sum: -1 }]]) }),
      (s) => ({ step: s + 1, domains: new Map([[2, { ...good, tokens: -3 }]]) }),
      (s) => ({ step: s + 1, domains: new Map([[2, { ...good, tokens: 2.5 }]]) }),
      (s) => ({ step: s + 1, domains: new Map([[2, { ...good, tokens: Infinity }]]) }),
      (s) => ({ step: s + 1, domains: new Map([[0, { ...good, excess_loss_sum: -Infinity }]]) }),
      (s) => ({ step: s + 1, domains: new Map([[0, { ...good, ref_loss_sum: -2 }]]) }),
      (s) => ({ step: s + 1, domains: new Map([[0, { ...good, eval_loss: NaN }]]) }),
      (s) => ({ step: s + 1, domains: new Map([[3, { ...good, grad_alignment: NaN }]]) }),
      (s) => ({
        step: s + 1,
        domains: new Map([
          [0, good],
          [K, good],
        ]),
      }),
      (s) => ({
        step: s + 1,
        domains: new Map([
          [0, good],
          [-1, good],
        ]),
      }),
      (s) => ({ step: s + 1, domains: new Map([[0.5, good]]) }),
      (s) => ({ step: s + 1, lr: NaN, domains: new Map([[0, good]]) }),
      (s) => ({ step: s + 1, lr: -1e-3, domains: new Map([[0, good]]) }),
      (s) => ({ step: Math.max(s, 0), domains: new Map([[0, good]]) }), // not after the last folded step
      () => ({ step: -1, domains: new Map([[0, good]]) }),
    ];
    fc.assert(
      fc.property(feedbackRun(K, 0, 8), fc.integer({ min: 0, max: corruptions.length - 1 }), fc.integer({ min: 0, max: K - 1 }), (run, which, extra) => {
        const m = make(spec);
        run.forEach((f) => m.update(f));
        const last = run.length ? run[run.length - 1].step : 0;
        // Valid signals for another domain in the same step must not be half-applied either.
        const bad = corruptions[which](last);
        const domainsWithGood = new Map(bad.domains);
        if (!domainsWithGood.has(extra)) domainsWithGood.set(extra, good);
        const before = m.state();
        const wBefore = m.weights(last + 1);
        let threw: unknown = null;
        try {
          m.update({ ...bad, domains: domainsWithGood });
        } catch (e) {
          threw = e;
        }
        // The step −1 / repeated-step cases with an empty run are valid (step 0 after nothing) except −1.
        if (which === corruptions.length - 2 && run.length === 0) return;
        expect(threw).toBeInstanceOf(MixerInputError);
        const err = threw as MixerInputError;
        expect(typeof err.domain).toBe("string");
        expect(typeof err.field).toBe("string");
        expect(m.state()).toEqual(before);
        expect(sameBits(m.weights(last + 1), wBefore)).toBe(true);
      }),
      RUNS,
    );
  });

  it("restore() of a corrupt or foreign state throws ConfigError naming the field and changes nothing", () => {
    // Values no state field accepts: not a number, not K numbers, not K entries, not a series or law.
    const junk = fc.constantFrom<unknown>(
      "x",
      null,
      {},
      Array.from({ length: K + 1 }, () => 0),
      undefined,
    );
    const others = SPECS.filter((o) => o.name !== spec.name);
    fc.assert(
      fc.property(feedbackRun(K, 0, 8), fc.nat(), fc.nat(), junk, fc.boolean(), fc.nat(), (run, whichKey, whichEntry, bad, nested, whichOther) => {
        const m = make(spec);
        run.forEach((f) => m.update(f));
        const before = m.state();
        const wBefore = m.weights(run.length ? run[run.length - 1].step + 1 : 0);
        const keys = Object.keys(before);
        const key = keys[whichKey % keys.length];
        const blob = JSON.parse(JSON.stringify(before)) as MixerState;
        const field = blob[key];
        if (nested && Array.isArray(field) && field.length > 0 && bad !== null) {
          // One entry of a per-domain list (null is a valid entry of some lists, so not used here).
          const i = whichEntry % field.length;
          field[i] = bad === undefined ? "x" : bad;
        } else {
          blob[key] = bad;
        }
        const candidates: MixerState[] = [
          blob,
          make(others[whichOther % others.length]).state(),
          createMixer(
            spec,
            doms(K + 1, (i) => ({ entropy: 1 + 0.5 * i, refLoss: 1 + i })),
          ).state(),
        ];
        candidates.forEach((c, j) => {
          let threw: unknown = null;
          try {
            m.restore(c);
          } catch (e) {
            threw = e;
          }
          if (j === 2 && Object.keys(before).length === 2) return; // {name, last_step} has no per-domain field: fits any K
          expect(threw).toBeInstanceOf(ConfigError);
          const path = (threw as ConfigError).path;
          if (j === 0) expect([`mixer.state.${key}`, "mixer.state.name"].includes(path) || path.startsWith(`mixer.state.${key}[`)).toBe(true);
          if (j === 1) expect(path).toBe("mixer.state.name");
          expect(m.state()).toEqual(before);
          expect(sameBits(m.weights(run.length ? run[run.length - 1].step + 1 : 0), wBefore)).toBe(true);
        });
      }),
      { numRuns: 40 },
    );
  });
});
