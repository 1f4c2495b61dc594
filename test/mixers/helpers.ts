/** Shared test helpers: feedback builders and fast-check generators for mixer inputs. */
import fc from "fast-check";
import type { DomainFeedback, DomainInfo, StepFeedback } from "../../mixers/contract.js";

export const doms = (K: number, extra: (i: number) => Partial<DomainInfo> = () => ({})): DomainInfo[] =>
  Array.from({ length: K }, (_, i) => ({ name: `d${i}`, tokens: 1000 * (i + 1), ...extra(i) }));

/** fb(step, {0: {...}, 2: {...}}, lr) → StepFeedback */
export function fb(step: number, entries: Record<number, DomainFeedback>, lr?: number): StepFeedback {
  return { step, domains: new Map(Object.entries(entries).map(([k, v]) => [Number(k), v])), ...(lr === undefined ? {} : { lr }) };
}

/** Bit-level equality of two weight vectors (stronger than toEqual: tells −0 from 0 and every ulp). */
export const sameBits = (a: Float64Array, b: Float64Array): boolean =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** One domain's signals with realistic magnitudes: per-token loss ≤ 20 nats, every optional field present sometimes. */
const domainFeedback: fc.Arbitrary<DomainFeedback> = fc
  .record({
    perToken: fc.double({ min: 0, max: 20, noNaN: true }),
    tokens: fc.integer({ min: 0, max: 5000 }),
    excessFrac: fc.double({ min: 0, max: 1, noNaN: true }),
    refFrac: fc.double({ min: 0, max: 2, noNaN: true }),
    align: fc.double({ min: -100, max: 100, noNaN: true }),
    evalLoss: fc.option(fc.double({ min: 0, max: 20, noNaN: true }), { nil: undefined }),
  })
  .map(({ perToken, tokens, excessFrac, refFrac, align, evalLoss }) => ({
    loss_sum: perToken * tokens,
    tokens,
    excess_loss_sum: excessFrac * perToken * tokens,
    ref_loss_sum: refFrac * perToken * tokens,
    grad_alignment: align,
    ...(evalLoss === undefined ? {} : { eval_loss: evalLoss }),
  }));

/** A run of `len` steps over K domains: increasing steps, random subsets of domains present, optional lr. */
export function feedbackRun(K: number, minLen: number, maxLen: number): fc.Arbitrary<StepFeedback[]> {
  const step = fc.record({
    gap: fc.integer({ min: 1, max: 3 }),
    present: fc.array(fc.option(domainFeedback, { nil: undefined, freq: 4 }), { minLength: K, maxLength: K }),
    lr: fc.option(fc.double({ min: 0, max: 0.01, noNaN: true }), { nil: undefined }),
  });
  return fc.array(step, { minLength: minLen, maxLength: maxLen }).map((steps) => {
    let s = -1;
    return steps.map(({ gap, present, lr }) => {
      s += gap;
      const m = new Map<number, DomainFeedback>();
      present.forEach((d, i) => {
        if (d) m.set(i, d);
      });
      return { step: s, domains: m, ...(lr === undefined ? {} : { lr }) };
    });
  });
}
