/**
 * The few lines `mixload serve --http PORT` (and the demo) need: a dashboard on the service's
 * run directory whose live counters come from the service's own `stats` op, asked over the
 * control socket like any client would.
 */
import type { LoadedConfig } from "../config/load.js";
import { MixloadClient } from "../client/client.js";
import type { MixloadService } from "../serve/service.js";
import { Dashboard } from "./server.js";

export async function attachDashboard(service: MixloadService, loaded: LoadedConfig, port: number): Promise<Dashboard> {
  const c = loaded.config;
  const client = new MixloadClient({ endpoint: service.controlEndpoint, timeoutMs: 2000, retries: 0 });
  const dash = await Dashboard.start({
    runDir: service.runDir,
    port,
    info: { run_id: service.runId, mixer: c.mixer.name, domains: service.domains, tokens_per_step: c.world * c.batch_size * c.seq_len },
    stats: async () => {
      const s = await client.stats();
      const n = (k: string): number | undefined => (typeof s[k] === "number" ? (s[k] as number) : undefined);
      return {
        steps_served: n("steps_served") ?? s.step,
        tokens_served: s.tokens_served,
        fill_rate: s.fill_rate,
        achieved: s.achieved,
        built_step: n("built_step"),
        weights_version: n("weights_version"),
        folded_step: n("folded_step"),
        uptime_s: n("uptime_s"),
      };
    },
    onClose: () => client.close(),
  });
  return dash;
}
