/**
 * A domain's selection policy (`domains[i].select` in the config) and the keep rule it defines.
 *
 * The stages, applied in this order to the documents of one domain (ids 0..N−1 over its sources):
 *   1. duplicates (top-level `dedup`): dropped first, whatever their score;
 *   2. a missing or NaN score: a bad score (an error, or a counted drop under `on_error: skip`);
 *   3. threshold: keep `min ≤ s ≤ max`;
 *   4. top fraction (Ask-LLM, Sachdeva et al. 2024 §3.1: keep the top k % by quality score): of the
 *      documents still in, the round(k·M) best, ties broken by the lower document id;
 *   5. sampling at a target `rate` of the documents still in, each kept with probability
 *        p_i = min(1, c · w_i),   c chosen so that Σ p_i = rate · M   (water-filling, exact at open)
 *      - `inverse_density`: w_i = 1 / s_i with s_i a density score (Density, Sachdeva et al. 2024
 *        §3.2: inverse-propensity sampling from a kernel density estimate, so sparse regions of the
 *        embedding space are kept and dense, redundant ones thinned);
 *      - `tempered`: w_i = exp((s_i − max s) / T), a Boltzmann keep-probability: T → ∞ is uniform
 *        sampling at `rate`, T → 0 the top `rate` fraction.
 *      The draw is u_i < p_i with u_i = hash(seed, domain, id) / 2³²: no random state, no order.
 *
 * `prefer: "low"` reverses "better" for scores where lower is better (perplexity): top fraction
 * keeps the lowest, tempered favours the lowest. `min`/`max` always compare the raw score.
 *
 * Everything a keep decision needs that depends on all the scores (the top-fraction cut, the
 * constant c) is computed once at open from one pass over the scores (`planSelection`); after
 * that, `keepReason(plan, id, score)` is a pure function of (seed, domain, document id, score,
 * policy) — the property tests check it.
 */
import { z } from "zod";
import { hashInts } from "../util/hash.js";

export const selectSchema = z
  .strictObject({
    /** The metadata field (or, with `scores`, the name the sidecar's scores are attached under). */
    score: z.string().min(1).default("score"),
    /** Which end of the score is better, for top_fraction and tempered sampling. */
    prefer: z.enum(["high", "low"]).default("high"),
    min: z.number().finite().optional(),
    max: z.number().finite().optional(),
    /** Keep this fraction of the documents (after dedup and thresholds), the best first; ties by document id. */
    top_fraction: z.number().gt(0).max(1).optional(),
    sample: z.enum(["inverse_density", "tempered"]).optional(),
    /** `tempered` only: T in exp(s / T). Default 1. */
    temperature: z.number().positive().finite().optional(),
    /** `sample` only: the expected fraction of the remaining documents kept. */
    rate: z.number().gt(0).max(1).optional(),
    /** A folder of score sidecars (`mixload score --out DIR`), relative to the config file; else scores come from the metadata field. */
    scores: z.string().min(1).optional(),
  })
  .superRefine((s, ctx) => {
    if (s.min !== undefined && s.max !== undefined && s.min > s.max)
      ctx.addIssue({ code: "custom", path: ["min"], message: `min ${s.min} is above max ${s.max}` });
    if (s.sample !== undefined && s.rate === undefined)
      ctx.addIssue({ code: "custom", path: ["rate"], message: `sample "${s.sample}" needs a rate in (0, 1]` });
    if (s.sample === undefined && s.rate !== undefined)
      ctx.addIssue({ code: "custom", path: ["sample"], message: `rate needs sample: "inverse_density" or "tempered"` });
    if (s.temperature !== undefined && s.sample !== "tempered")
      ctx.addIssue({ code: "custom", path: ["temperature"], message: `temperature applies to sample "tempered" only` });
    if (s.min === undefined && s.max === undefined && s.top_fraction === undefined && s.sample === undefined)
      ctx.addIssue({ code: "custom", path: [], message: "select needs at least one of min, max, top_fraction, sample" });
  });

export type SelectPolicy = z.output<typeof selectSchema>;

/** Why a document is not served. The keys of the per-domain drop counts in stats and inspect. */
export const DROP_REASONS = ["exact_dup", "near_dup", "bad_score", "threshold", "top_fraction", "sampled_out"] as const;
export type DropReason = (typeof DROP_REASONS)[number];

export type DropCounts = Record<DropReason, number>;

export function emptyDropCounts(): DropCounts {
  return { exact_dup: 0, near_dup: 0, bad_score: 0, threshold: 0, top_fraction: 0, sampled_out: 0 };
}

/** Duplicates dedup drops from one domain (select/dedup's DomainDedup has this shape). */
export interface DuplicateIds {
  /** Document ids, ascending. */
  readonly dropped: Uint32Array;
  /** Per dropped id: 1 exact duplicate, 2 near duplicate. */
  readonly reason: Uint8Array;
}

/** What `keepReason` needs beyond (id, score): the policy and the constants derived from all scores at open. */
export interface SelectionPlan {
  readonly policy: SelectPolicy | undefined;
  readonly seed: number;
  readonly domain: number;
  /** Top fraction: keep s > cutScore, and s = cutScore for ids ≤ cutLastId (in "better is higher" orientation). */
  readonly cutScore: number;
  readonly cutLastId: number;
  /** Sampling: p_i = min(1, c · w_i). */
  readonly c: number;
  /** Tempered: the best oriented score (the exponent's shift; keeps exp() ≤ 1). */
  readonly shift: number;
}

/** Domain-separation constant of the sampling hash, so keep draws never coincide with the permutation's keys. */
const SAMPLE_SALT = 0x73656c63;

/** u ∈ [0, 1) for document `id` of `domain`: the sampling draw, a pure function of its inputs. */
export function keepDraw(seed: number, domain: number, id: number): number {
  return hashInts(SAMPLE_SALT, seed, domain, id) / 2 ** 32;
}

/** The score with "better" as "higher". */
function oriented(policy: SelectPolicy, s: number): number {
  return policy.prefer === "low" ? -s : s;
}

function passesThreshold(policy: SelectPolicy, s: number): boolean {
  return (policy.min === undefined || s >= policy.min) && (policy.max === undefined || s <= policy.max);
}

function sampleWeight(plan: SelectionPlan, s: number): number {
  const p = plan.policy!;
  if (p.sample === "inverse_density") return 1 / s;
  return Math.exp((oriented(p, s) - plan.shift) / (p.temperature ?? 1));
}

/** Where `id` is in the ascending `sorted`, or −1 (dedup's ids are sorted). */
function indexOfSorted(sorted: Uint32Array, id: number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = sorted[mid];
    if (v === id) return mid;
    if (v < id) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/**
 * The keep decision for one document: "kept" or why not. Pure: the same (plan, id, score) always
 * gives the same answer, whatever else was asked before (no cursor, no random state).
 */
export function keepReason(plan: SelectionPlan, id: number, score: number, dups?: DuplicateIds): DropReason | "kept" {
  if (dups !== undefined) {
    const at = indexOfSorted(dups.dropped, id);
    if (at >= 0) return dups.reason[at] === 1 ? "exact_dup" : "near_dup";
  }
  const p = plan.policy;
  if (p === undefined) return "kept";
  if (Number.isNaN(score) || (p.sample === "inverse_density" && !(score > 0))) return "bad_score";
  if (!passesThreshold(p, score)) return "threshold";
  if (p.top_fraction !== undefined) {
    const o = oriented(p, score);
    if (o < plan.cutScore || (o === plan.cutScore && id > plan.cutLastId)) return "top_fraction";
  }
  if (p.sample !== undefined && !(keepDraw(plan.seed, plan.domain, id) < Math.min(1, plan.c * sampleWeight(plan, score)))) return "sampled_out";
  return "kept";
}

/**
 * One pass over a domain's scores: the top-fraction cut and the sampling constant. `scores` may
 * hold NaN (bad scores, dropped under `on_error: skip`); without a policy (dedup only) the plan
 * keeps every non-duplicate.
 */
export function planSelection(policy: SelectPolicy | undefined, seed: number, domain: number, scores: Float64Array | null, dups?: DuplicateIds): SelectionPlan {
  const plan = { policy, seed, domain, cutScore: -Infinity, cutLastId: Infinity, c: 1, shift: 0 };
  if (policy === undefined || scores === null) return plan;
  // The candidates for the top-fraction stage: past dedup, score and threshold.
  const earlier: SelectionPlan = { ...plan, policy: { ...policy, top_fraction: undefined, sample: undefined } };
  const candidates: number[] = [];
  for (let id = 0; id < scores.length; id++) if (keepReason(earlier, id, scores[id], dups) === "kept") candidates.push(id);
  if (policy.top_fraction !== undefined && candidates.length > 0) {
    const k = Math.round(policy.top_fraction * candidates.length);
    const values = Float64Array.from(candidates, (id) => oriented(policy, scores[id])).sort();
    if (k === 0) {
      plan.cutScore = Infinity;
      plan.cutLastId = -1;
    } else {
      // The k-th best value; all above it are in, and of those equal to it the lowest ids fill up to k.
      const cut = values[values.length - k];
      let above = 0;
      for (let j = values.length - 1; j >= 0 && values[j] > cut; j--) above++;
      let ties = k - above;
      let lastId = -1;
      for (const id of candidates) {
        if (ties === 0) break;
        if (oriented(policy, scores[id]) === cut) {
          lastId = id;
          ties--;
        }
      }
      plan.cutScore = cut;
      plan.cutLastId = lastId;
    }
  }
  if (policy.sample !== undefined) {
    const afterTop: SelectionPlan = { ...plan, policy: { ...policy, sample: undefined } };
    const survivors = candidates.filter((id) => keepReason(afterTop, id, scores[id], dups) === "kept");
    let best = -Infinity;
    for (const id of survivors) best = Math.max(best, oriented(policy, scores[id]));
    plan.shift = Number.isFinite(best) ? best : 0;
    const weights = Float64Array.from(survivors, (id) => sampleWeight(plan, scores[id]));
    plan.c = waterFill(weights, policy.rate! * survivors.length);
  }
  return plan;
}

/**
 * The c with Σ min(1, c·w_i) = target (0 < target ≤ n, w_i > 0): the largest weights are clipped
 * to probability 1 and the rest share what is left in proportion to their weight. Sorting makes
 * it exact in one pass (and deterministic: the sums run in a fixed order).
 */
export function waterFill(weights: Float64Array, target: number): number {
  const n = weights.length;
  if (n === 0 || target <= 0) return 0;
  if (target >= n) return Infinity;
  const w = Float64Array.from(weights).sort().reverse();
  const tail = new Float64Array(n + 1);
  for (let i = n - 1; i >= 0; i--) tail[i] = tail[i + 1] + w[i];
  for (let j = 0; j < n; j++) {
    // j largest weights clipped to 1; the rest scaled by c.
    const c = (target - j) / tail[j];
    if (c * w[j] <= 1) return c;
  }
  return Infinity;
}

/** The kept ids (sorted) and the drop counts of a plan over a domain's N documents. */
export function applyPlan(plan: SelectionPlan, n: number, scores: Float64Array | null, dups?: DuplicateIds): { kept: Uint32Array; dropped: DropCounts } {
  const dropped = emptyDropCounts();
  const kept = new Uint32Array(n);
  let k = 0;
  for (let id = 0; id < n; id++) {
    const r = keepReason(plan, id, scores === null ? 0 : scores[id], dups);
    if (r === "kept") kept[k++] = id;
    else dropped[r] += 1;
  }
  return { kept: kept.slice(0, k), dropped };
}
