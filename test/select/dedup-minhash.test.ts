/**
 * The pieces of near-dup detection against their definitions: normalisation and shingles,
 * MinHash's estimator (unbiased, variance J(1 − J)/P: Broder 1997; MMDS §3.3), and LSH banding's
 * candidate probability 1 − (1 − s^r)^b (MMDS §3.4.2).
 */
import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { normalizeText } from "../../src/select/dedup/normalize.js";
import { Shingler, jaccard, sortedUnique } from "../../src/select/dedup/shingles.js";
import { MinHasher, estimatedJaccard } from "../../src/select/dedup/minhash.js";
import { WINDOW, lshCandidates } from "../../src/select/dedup/lsh.js";
import { UnionFind } from "../../src/select/dedup/union-find.js";
import { mulberry32 } from "../../src/util/hash.js";
import { plant, spamTexts } from "./dedup-fixtures.js";

describe("normalisation and shingles", () => {
  test("case, whitespace and compatibility forms do not matter; words do", () => {
    expect(normalizeText("  Ｈｅｌｌｏ\u00a0 WORLD\n\tagain ")).toBe("hello world again");
    expect(normalizeText("ﬁne")).toBe("fine");
    expect(normalizeText("hello world")).not.toBe(normalizeText("hello, world"));
  });

  test("punctuation separates words for shingles; fewer words than k make one shingle", () => {
    const s = new Shingler(3);
    const a = sortedUnique(s.ofText(normalizeText("One, two; three... four!")));
    const b = sortedUnique(s.ofText(normalizeText("one two three four")));
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(a.length).toBe(2);
    expect(s.ofText("one two").length).toBe(1);
    expect(s.ofText("--- !!!").length).toBe(0);
    // Order matters inside a shingle.
    expect(s.ofText("a b c")[0]).not.toBe(s.ofText("c b a")[0]);
  });

  test("token shingles are k-grams of ids", () => {
    const s = new Shingler(2);
    const x = sortedUnique(s.ofTokens(Int32Array.of(1, 2, 3, 1, 2)));
    expect(x.length).toBe(3); // (1,2) (2,3) (3,1)
  });

  test("jaccard of sorted sets", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.nat(50)), fc.uniqueArray(fc.nat(50)), (xs, ys) => {
        const a = sortedUnique(Uint32Array.from(xs)),
          b = sortedUnique(Uint32Array.from(ys));
        const inter = xs.filter((x) => ys.includes(x)).length;
        const union = new Set([...xs, ...ys]).size;
        expect(jaccard(a, b)).toBeCloseTo(union === 0 ? 0 : inter / union, 12);
      }),
    );
  });
});

describe("MinHash estimator on real pairs", () => {
  test("mean error ≈ 0 and mean squared error ≈ J(1 − J)/P over planted copies of mails", () => {
    const { texts, origin } = plant(spamTexts(16).slice(0, 200), 400, 3);
    const P = 128;
    const shingler = new Shingler(5);
    const hasher = new MinHasher(P, 9);
    const sets = texts.map((t) => sortedUnique(shingler.ofText(normalizeText(t))));
    const sigs = new Uint32Array(texts.length * P);
    sets.forEach((s, i) => hasher.sign(s, sigs, i * P));
    let bias = 0,
      se = 0,
      expected = 0,
      n = 0;
    origin.forEach((o, j) => {
      if (o < 0 || sets[o].length < 20) return;
      const J = jaccard(sets[o], sets[j]);
      const est = estimatedJaccard(sigs, P, o, j);
      bias += est - J;
      se += (est - J) ** 2;
      expected += (J * (1 - J)) / P;
      n++;
    });
    expect(n).toBeGreaterThan(300);
    // Standard error of the mean bias: sqrt(expected)/n; 4 standard errors.
    expect(Math.abs(bias / n)).toBeLessThan((4 * Math.sqrt(expected)) / n);
    const ratio = se / expected;
    expect(ratio, `mean squared error ÷ binomial variance`).toBeGreaterThan(0.75);
    expect(ratio).toBeLessThan(1.3);
  });

  test("permutations differ by seed; the same seed gives the same signature", () => {
    const s = Uint32Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
    const [a, b, c] = [new Uint32Array(64), new Uint32Array(64), new Uint32Array(64)];
    new MinHasher(64, 1).sign(s, a, 0);
    new MinHasher(64, 1).sign(s, b, 0);
    new MinHasher(64, 2).sign(s, c, 0);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });
});

describe("LSH banding", () => {
  test("a pair agreeing on each position with probability s is a candidate with probability 1 − (1 − s^r)^b", () => {
    const rng = mulberry32(5);
    for (const [s, bands, rows] of [
      [0.5, 8, 4],
      [0.8, 4, 8],
      [0.3, 16, 2],
    ] as const) {
      const P = bands * rows;
      const pairs = 3000;
      const sigs = new Uint32Array(2 * pairs * P);
      for (let p = 0; p < pairs; p++) {
        for (let k = 0; k < P; k++) {
          const x = (rng() * 2 ** 32) >>> 0;
          sigs[2 * p * P + k] = x;
          sigs[(2 * p + 1) * P + k] = rng() < s ? x : (rng() * 2 ** 32) >>> 0;
        }
      }
      let hits = 0;
      const docs = Uint32Array.from({ length: 2 * pairs }, (_, i) => i);
      lshCandidates(sigs, P, bands, docs, (i, j) => {
        expect(j).toBe(i + 1);
        expect(i % 2).toBe(0);
        hits++;
      });
      const expected = 1 - (1 - s ** rows) ** bands;
      const sd = Math.sqrt((expected * (1 - expected)) / pairs);
      expect(Math.abs(hits / pairs - expected), `s ${s}, ${bands} × ${rows}: ${hits / pairs} vs ${expected}`).toBeLessThan(4 * sd + 1e-9);
    }
  });
});

describe("LSH buckets", () => {
  test("a bucket up to WINDOW members gives all its pairs; a larger one each member's window, still one connected cluster", () => {
    for (const m of [WINDOW, 3000]) {
      const P = 8;
      const sigs = new Uint32Array(m * P);
      // All agree on band 0 (rows 0..3), differ on band 1: one bucket of m.
      for (let d = 0; d < m; d++) for (let k = 0; k < P; k++) sigs[d * P + k] = k < 4 ? 7 : d * P + k;
      const uf = new UnionFind(m);
      let pairs = 0;
      lshCandidates(
        sigs,
        P,
        2,
        Uint32Array.from({ length: m }, (_, i) => i),
        (i, j) => {
          pairs++;
          uf.union(i, j);
        },
      );
      if (m === WINDOW) expect(pairs).toBe((m * (m - 1)) / 2);
      else expect(pairs).toBe((WINDOW * (WINDOW - 1)) / 2 + (m - WINDOW) * WINDOW + (m - WINDOW - 1));
      for (let d = 0; d < m; d++) expect(uf.find(d)).toBe(0);
    }
  });
});

describe("union-find", () => {
  test("components and their smallest member do not depend on the order of the edges", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(30), fc.nat(30)), { maxLength: 40 }), fc.nat(), (edges, seed) => {
        const order = [...edges];
        const rng = mulberry32(seed);
        for (let i = order.length - 1; i > 0; i--) {
          const j = Math.floor(rng() * (i + 1));
          [order[i], order[j]] = [order[j], order[i]];
        }
        const a = new UnionFind(31),
          b = new UnionFind(31);
        for (const [x, y] of edges) a.union(x, y);
        for (const [x, y] of order) b.union(y, x);
        for (let v = 0; v <= 30; v++) {
          expect(a.find(v)).toBe(b.find(v));
          // The root is the smallest member: BFS over the edges from v finds nothing smaller.
          const seen = new Set([v]);
          const queue = [v];
          while (queue.length > 0) {
            const u = queue.pop() as number;
            for (const [x, y] of edges) {
              const w = x === u ? y : y === u ? x : -1;
              if (w >= 0 && !seen.has(w)) (seen.add(w), queue.push(w));
            }
          }
          expect(a.find(v)).toBe(Math.min(...seen));
        }
      }),
    );
  });
});
