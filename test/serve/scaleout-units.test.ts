/**
 * The pieces of the scale-out path without sockets (docs/scale-out.md):
 *
 * - exact sums (Shewchuk partials rounded once) do not depend on order or grouping;
 * - property (fast-check): random per-rank feedback split over random node counts, each node's
 *   exact partial combined by the LeaderBook, folds to the same aggregate and the same DoReMi
 *   weights, bit for bit, as one service's FeedbackBook over all ranks — the reason node services
 *   and one service record the same schedule;
 * - the FeedbackBook of a node completes on its own ranks only; the StepWindow's rules.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createMixer } from "../../mixers/registry.js";
import type { DomainInfo } from "../../mixers/contract.js";
import { addExact, mergeExact, roundExact } from "../../src/serve/exact-sum.js";
import { aggregate, FeedbackBook, rankFeedback, type RankFeedback } from "../../src/serve/feedback-book.js";
import { LeaderBook } from "../../src/serve/leader-book.js";
import { StepWindow } from "../../src/serve/step-window.js";
import { WeightSchedule } from "../../src/schedule/weight-schedule.js";

const DOMAINS = ["news", "code", "books"];
const INFO: DomainInfo[] = DOMAINS.map((name, i) => ({ name, tokens: 10_000 * (i + 1) }));

const partials = (xs: readonly number[]): number[] => xs.reduce((p, x) => addExact(p, x), [] as number[]);
const exactSum = (xs: readonly number[]): number => roundExact(partials(xs));

describe("exact sums", () => {
  it("do not depend on order or grouping (and plain + does)", () => {
    const xs = [0.1, 0.2, 0.3, 1e16, -1e16, 0.7];
    expect(exactSum(xs)).toBe(exactSum([...xs].reverse()));
    expect(exactSum(xs)).toBe(1.3);
    expect(xs.reduce((a, b) => a + b, 0)).not.toBe([...xs].reverse().reduce((a, b) => a + b, 0));
    // Groups' partials merged (what the leader does with nodes' partials) = the whole sum.
    expect(roundExact(mergeExact(partials(xs.slice(0, 3)), partials(xs.slice(3))))).toBe(1.3);
  });

  it("property: any permutation of finite doubles sums to the same value", () => {
    fc.assert(
      fc.property(
        fc
          .array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { maxLength: 40 })
          .chain((xs) => fc.tuple(fc.constant(xs), fc.shuffledSubarray(xs, { minLength: xs.length, maxLength: xs.length }), fc.nat(xs.length))),
        ([xs, shuffled, cut]) => {
          expect(exactSum(shuffled)).toBe(exactSum(xs));
          expect(roundExact(mergeExact(partials(shuffled.slice(0, cut)), partials(shuffled.slice(cut))))).toBe(exactSum(xs));
        },
      ),
    );
  });
});

function rankOf(values: { loss: number; tokens: number; excess: number }[], lr?: number): RankFeedback {
  const signals = new Map(
    values.flatMap((v, i) => (v.tokens === 0 ? [] : [[DOMAINS[i], { loss_sum: v.loss, tokens: v.tokens, excess_loss_sum: v.excess }] as const])),
  );
  return rankFeedback(signals, DOMAINS, lr);
}

const rankArb = fc.record({
  values: fc.array(
    fc.record({
      loss: fc.double({ min: 0, max: 5e4, noNaN: true }),
      tokens: fc.integer({ min: 0, max: 4096 }),
      excess: fc.double({ min: 0, max: 5e3, noNaN: true }),
    }),
    { minLength: 3, maxLength: 3 },
  ),
  lr: fc.option(fc.double({ min: 1e-5, max: 1e-2, noNaN: true }), { nil: undefined }),
});

describe("one service vs node services + leader", () => {
  it("property: the same aggregate and DoReMi weights, bit for bit, for any split of the ranks over nodes", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }).chain((nodes) =>
          fc.tuple(
            fc.constant(nodes),
            fc
              .integer({ min: 1, max: 3 })
              .chain((per) => fc.array(fc.array(rankArb, { minLength: nodes * per, maxLength: nodes * per }), { minLength: 1, maxLength: 4 })),
          ),
        ),
        ([nodes, steps]) => {
          const world = steps[0].length;
          const per = world / nodes;
          const single = new WeightSchedule(createMixer({ name: "doremi" }, INFO), 2);
          const leader = new LeaderBook(nodes, DOMAINS, createMixer({ name: "doremi" }, INFO), 2);
          steps.forEach((ranks, step) => {
            const records = ranks.map((r) => rankOf(r.values, r.lr));
            const one = aggregate(step, { ranks: records }, DOMAINS);
            // Each node: a FeedbackBook owning its ranks, completed by them alone, sending its exact partial.
            for (let n = nodes - 1; n >= 0; n--) {
              const book = new FeedbackBook(world, { lo: n * per, hi: (n + 1) * per });
              for (let r = n * per; r < (n + 1) * per; r++) book.record(step, r, records[r], false, () => {});
              expect(book.isComplete(step)).toBe(true);
              leader.report(n, step, book.partial(step));
            }
            const folds = leader.foldReady();
            expect(folds.map((f) => f.step)).toEqual([step]);
            expect(folds[0].logged).toEqual(one.logged);
            expect(folds[0].lr).toBe(one.lr);
            const entry = single.fold(one.feedback);
            expect(folds[0].entry).toEqual(entry);
          });
        },
      ),
      { numRuns: 60 },
    );
  });

  it("the leader waits for every node, names who is missing, and takes identical re-sends", () => {
    const leader = new LeaderBook(3, DOMAINS, createMixer({ name: "doremi" }, INFO), 2);
    const p = new FeedbackBook(3, { lo: 0, hi: 1 });
    p.record(
      0,
      0,
      rankOf([
        { loss: 3, tokens: 2, excess: 1 },
        { loss: 0, tokens: 0, excess: 0 },
        { loss: 1, tokens: 1, excess: 0.5 },
      ]),
      false,
      () => {},
    );
    expect(leader.report(0, 0, p.partial(0))).toBe(true);
    expect(leader.report(0, 0, p.partial(0))).toBe(false);
    expect(leader.waitingFor(0)).toEqual([1, 2]);
    expect(leader.foldReady()).toEqual([]);
    expect(() => leader.report(0, 0, { domains: {} })).toThrow(/node 0 re-sent step 0 with different feedback/);
    expect(leader.heldFrom(0)).toEqual([0]);
  });
});

describe("FeedbackBook and StepWindow", () => {
  it("a node's book completes on its own ranks; conflicting re-sends and mixed forms are refused", () => {
    const book = new FeedbackBook(4, { lo: 2, hi: 4 });
    const fb = rankOf([
      { loss: 1, tokens: 1, excess: 0 },
      { loss: 0, tokens: 0, excess: 0 },
      { loss: 0, tokens: 0, excess: 0 },
    ]);
    book.record(5, 2, fb, false, () => {});
    expect(book.missing(5)).toEqual([3]);
    expect(book.record(5, 2, fb, false, () => {})).toBe(false);
    expect(() =>
      book.record(
        5,
        2,
        rankOf([
          { loss: 2, tokens: 1, excess: 0 },
          { loss: 0, tokens: 0, excess: 0 },
          { loss: 0, tokens: 0, excess: 0 },
        ]),
        false,
        () => {},
      ),
    ).toThrow(/already reported different feedback/);
    expect(() => book.record(5, 3, fb, true, () => {})).toThrow(/already has per-rank feedback/);
    book.record(5, 3, fb, false, () => {});
    expect(book.isComplete(5)).toBe(true);
    expect(book.partial(5).domains.news.sums.tokens).toEqual([2]);
    book.evict(10);
    expect(book.get(5)).toBeDefined(); // not folded yet: kept
    book.nextFold = 6;
    book.evict(10);
    expect(book.get(5)).toBeUndefined();
  });

  it("the window builds prefetch ahead of the highest fetch, keeps keep_steps, answers waiters in order", async () => {
    const w = new StepWindow<string>(2, 0, 2, 4);
    expect(w.buildTarget()).toBe(2);
    const waiting = w.wait(3);
    expect(w.buildTarget()).toBe(4);
    for (let s = 0; s < 4; s++) w.file(s, `b${s}`);
    await expect(waiting).resolves.toBe("b3");
    expect(w.fetched(0, 3)).toBe(true);
    expect(w.fetched(0, 2)).toBe(false);
    expect(w.frontier()).toBe(0);
    expect(w.askLimit()).toBe(7);
    w.fetched(1, 9);
    expect(w.evict()).toBe(6);
    expect(w.get(3)).toBeUndefined();
  });
});
