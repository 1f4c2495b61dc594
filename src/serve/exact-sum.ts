/**
 * Exact floating-point sums: Shewchuk's non-overlapping partials ("Adaptive Precision
 * Floating-Point Arithmetic and Fast Robust Geometric Predicates", 1997, the grow-expansion of
 * §2.5), rounded once at the end as Python's `math.fsum` does.
 *
 * Why: a step's feedback is summed over ranks. One service adds rank 0, 1, …, W−1; node services
 * add their own ranks and the leader adds the nodes. Plain `+` gives different last bits for the
 * two groupings, DoReMi's weights then differ in the last bit, and so would the batches. The
 * correctly rounded sum of the exact total does not depend on grouping or order, so a step's
 * aggregate — and the schedule — is the same however the ranks are split over nodes.
 *
 * The partials are what travels from a node to the leader (usually one or two numbers).
 */

/** Add `x` into `partials` exactly (in place; returns it). Inputs are finite (feedback is validated). */
export function addExact(partials: number[], x: number): number[] {
  let i = 0;
  for (let j = 0; j < partials.length; j++) {
    let y = partials[j];
    if (Math.abs(x) < Math.abs(y)) [x, y] = [y, x];
    const hi = x + y;
    const lo = y - (hi - x);
    if (lo !== 0) partials[i++] = lo;
    x = hi;
  }
  partials.length = i;
  partials.push(x);
  return partials;
}

/** Add every partial of another exact sum (still exact). */
export function mergeExact(into: number[], other: readonly number[]): number[] {
  for (const x of other) addExact(into, x);
  return into;
}

/** The correctly rounded value of an exact sum (Python's fsum, round-half-even on the last partial). */
export function roundExact(partials: readonly number[]): number {
  let n = partials.length;
  if (n === 0) return 0;
  let hi = partials[--n];
  let lo = 0;
  while (n > 0) {
    const x = hi;
    const y = partials[--n];
    hi = x + y;
    const yr = hi - x;
    lo = y - yr;
    if (lo !== 0) break;
  }
  if (n > 0 && ((lo < 0 && partials[n - 1] < 0) || (lo > 0 && partials[n - 1] > 0))) {
    const y = lo * 2;
    const x = hi + y;
    const yr = x - hi;
    if (y === yr) hi = x;
  }
  return hi;
}
