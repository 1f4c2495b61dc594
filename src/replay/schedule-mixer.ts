/**
 * The `replay` mixer: a recorded weight schedule played back as a static (feedback-free)
 * mixer. `replay --serve` hands it to MixloadService, which then serves exactly the recorded
 * run's batches (the weights of every step are the recorded float64 values, unnormalised, as
 * the original service passed them to the loader) and ignores feedback. After the last
 * recorded step the last weights stay in force.
 */
import { FixedMixer } from "../../mixers/static.js";
import type { DomainInfo } from "../../mixers/contract.js";
import type { RecordedSchedule } from "./run-dir.js";

export class ScheduleMixer extends FixedMixer {
  readonly name = "replay";

  constructor(
    domains: readonly DomainInfo[],
    private readonly schedule: RecordedSchedule,
  ) {
    super(domains);
  }

  weights(step: number): Float64Array {
    return Float64Array.from(this.schedule.weights(step));
  }

  describe(): Record<string, unknown> {
    return { name: this.name, floor: 0, recorded_mixer: this.schedule.run.loaded.config.mixer.name, run: this.schedule.run.dir, steps: this.schedule.length };
  }
}
