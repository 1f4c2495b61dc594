/**
 * `temperature`: α_i ∝ n_i^{1/T} (multilingual temperature sampling, e.g. XLM-R/mT5 with
 * T ≈ 3.3). T = 1 is `natural`, T → ∞ is `uniform`. Computed in log space so huge token
 * counts cannot overflow.
 */
import { z } from "zod";
import { softmax } from "./common.js";
import { ConfigError, type DomainInfo } from "./contract.js";
import { FixedMixer } from "./static.js";

export const temperatureSchema = z.object({ T: z.number().finite().positive().default(1) }).strict();
export type TemperatureParams = z.infer<typeof temperatureSchema>;

export class TemperatureMixer extends FixedMixer {
  readonly name = "temperature";
  private readonly w: Float64Array;
  constructor(
    domains: readonly DomainInfo[],
    private readonly p: TemperatureParams,
  ) {
    super(domains);
    domains.forEach((d, i) => {
      if (!(Number.isFinite(d.tokens) && d.tokens > 0))
        throw new ConfigError(`domains[${i}].tokens`, `temperature sampling needs a positive token count, got ${d.tokens}`);
    });
    this.w = softmax(domains.map((d) => Math.log(d.tokens) / p.T));
  }
  weights(_step?: number): Float64Array {
    return Float64Array.from(this.w);
  }
  describe(): Record<string, unknown> {
    return { name: this.name, floor: Math.min(...this.w), T: this.p.T };
  }
}
