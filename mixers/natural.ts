/** `natural`: α_i ∝ n_i, the domain's token count (DomainInfo.tokens): sample as the corpus comes. */
import { z } from "zod";
import { naturalWeights } from "./common.js";
import { ConfigError, type DomainInfo } from "./contract.js";
import { FixedMixer } from "./static.js";

export const naturalSchema = z.object({}).strict();

export class NaturalMixer extends FixedMixer {
  readonly name = "natural";
  private readonly w: Float64Array;
  constructor(domains: readonly DomainInfo[]) {
    super(domains);
    domains.forEach((d, i) => {
      if (!(Number.isFinite(d.tokens) && d.tokens >= 0)) throw new ConfigError(`domains[${i}].tokens`, `must be a finite non-negative count, got ${d.tokens}`);
    });
    this.w = naturalWeights(domains);
  }
  weights(_step?: number): Float64Array {
    return Float64Array.from(this.w);
  }
  describe(): Record<string, unknown> {
    return { name: this.name, floor: Math.min(...this.w) };
  }
}
