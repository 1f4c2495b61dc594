/** `uniform`: α_i = 1/K, the stratified baseline every dynamic mixer must be compared with (Aioli's caution). */
import { z } from "zod";
import { uniformWeights } from "./common.js";
import { FixedMixer } from "./static.js";
import type { DomainInfo } from "./contract.js";

export const uniformSchema = z.object({}).strict();

export class UniformMixer extends FixedMixer {
  readonly name = "uniform";
  constructor(domains: readonly DomainInfo[]) {
    super(domains);
  }
  weights(_step?: number): Float64Array {
    return uniformWeights(this.domains.length);
  }
  describe(): Record<string, unknown> {
    return { name: this.name, floor: 1 / this.domains.length };
  }
}
