/**
 * Token-level low-discrepancy domain choice.
 *
 * Megatron's BlendedDataset picks, for sample k, the dataset with the largest
 * `w_i·(k+1) − count_i`: a deterministic error-diffusion rule whose cumulative shares never
 * drift from the weights. mixload serves documents of very different lengths and lets the
 * weights change at any step, so the rule is applied to tokens and to a running "owed"
 * balance instead of a fixed target:
 *
 *   after a document of n tokens from domain j:   owed_i += w_i·n  for every i,   owed_j −= n
 *   next domain:                                  argmax_i owed_i  over eligible domains
 *
 * Σ owed_i stays 0 (up to rounding), every owed_i stays within one document length of 0 under
 * fixed weights, so served token shares track w with error O(max_doc_len / tokens_served).
 * When the weights change, the balance carries over, so earlier choices are not revisited and
 * the new weights steer every later choice (a change at step s only affects batches ≥ s).

 */
export class DeficitSampler {
  private readonly owed: Float64Array;

  constructor(readonly numDomains: number) {
    this.owed = new Float64Array(numDomains);
  }

  /**
   * The domain the next document should come from. `eligible[i] === 0` excludes domain i
   * (e.g. exhausted under `on_exhausted: drop`). Ties go to the lowest index, for determinism.
   * Returns -1 when no domain with positive weight is eligible.
   */
  choose(weights: Float64Array, eligible?: Uint8Array): number {
    let best = -1;
    let bestOwed = -Infinity;
    for (let i = 0; i < this.numDomains; i++) {
      if (weights[i] <= 0 || (eligible !== undefined && eligible[i] === 0)) continue;
      if (this.owed[i] > bestOwed) {
        bestOwed = this.owed[i];
        best = i;
      }
    }
    return best;
  }

  /** Account for a document of `tokens` tokens drawn from `domain` under `weights`. */
  record(domain: number, tokens: number, weights: Float64Array): void {
    for (let i = 0; i < this.numDomains; i++) this.owed[i] += weights[i] * tokens;
    this.owed[domain] -= tokens;
  }

  state(): number[] {
    return Array.from(this.owed);
  }

  restore(owed: readonly number[]): void {
    if (owed.length !== this.numDomains) throw new Error(`sampler state has ${owed.length} domains, expected ${this.numDomains}`);
    this.owed.set(owed);
  }
}
