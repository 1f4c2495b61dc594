/**
 * Config `mixer: {name, params}` → Mixer, the way tokenizers.js maps a config `type` to a
 * class: one entry per mixer file, each with its zod schema. Params are validated at the
 * edge; the first problem becomes a ConfigError naming `mixer.params.<field>`.
 */
import { z } from "zod";
import { AdoMixer, adoSchema } from "./ado.js";
import { AioliMixer, aioliSchema } from "./aioli.js";
import { BimixMixer, bimixSchema } from "./bimix.js";
import { ConfigError, type DomainInfo, type Mixer } from "./contract.js";
import { DogeMixer, dogeSchema } from "./doge.js";
import { DoremiMixer, doremiSchema } from "./doremi.js";
import { NaturalMixer, naturalSchema } from "./natural.js";
import { OdmMixer, odmSchema } from "./odm.js";
import { StaticMixer, staticSchema } from "./static.js";
import { TemperatureMixer, temperatureSchema } from "./temperature.js";
import { UniformMixer, uniformSchema } from "./uniform.js";
import { VelocituneMixer, velocituneSchema } from "./velocitune.js";

interface Entry<S extends z.ZodType> {
  schema: S;
  build: (domains: readonly DomainInfo[], params: z.output<S>) => Mixer;
  summary: string;
}
const entry = <S extends z.ZodType>(e: Entry<S>) => e as unknown as Entry<z.ZodType>;

const MIXERS: Record<string, Entry<z.ZodType>> = {
  static: entry({ schema: staticSchema, build: (d, p) => new StaticMixer(d, p), summary: "fixed weights or phase schedule (optionally interpolated)" }),
  uniform: entry({ schema: uniformSchema, build: (d) => new UniformMixer(d), summary: "1/K per domain (stratified baseline)" }),
  natural: entry({ schema: naturalSchema, build: (d) => new NaturalMixer(d), summary: "proportional to domain token counts" }),
  temperature: entry({ schema: temperatureSchema, build: (d, p) => new TemperatureMixer(d, p), summary: "proportional to tokens^(1/T)" }),
  doremi: entry({ schema: doremiSchema, build: (d, p) => new DoremiMixer(d, p), summary: "online Group DRO on excess loss (Xie et al. 2023)" }),
  doge: entry({ schema: dogeSchema, build: (d, p) => new DogeMixer(d, p), summary: "gradient-alignment mirror descent (Fan et al. 2023)" }),
  velocitune: entry({
    schema: velocituneSchema,
    build: (d, p) => new VelocituneMixer(d, p),
    summary: "learning-velocity reweighting to scaling-law targets (Luo et al. 2025)",
  }),
  bimix: entry({ schema: bimixSchema, build: (d, p) => new BimixMixer(d, p), summary: "bivariate mixing law fit + simplex optimisation (Ge et al. 2024)" }),
  odm: entry({ schema: odmSchema, build: (d, p) => new OdmMixer(d, p), summary: "EXP3 bandit on training loss (Albalak et al. 2023)" }),
  ado: entry({ schema: adoSchema, build: (d, p) => new AdoMixer(d, p), summary: "per-domain scaling-law policy (Jiang et al. 2024)" }),
  aioli: entry({
    schema: aioliSchema,
    build: (d, p) => new AioliMixer(d, p),
    summary: "mixing-law matrix learnt from probe rounds + exponentiated gradient (Chen et al. 2025)",
  }),
};

export interface MixerSpec {
  name: string;
  params?: unknown;
}

export function listMixers(): { name: string; needsFeedback: boolean; summary: string }[] {
  const fixed = new Set(["static", "uniform", "natural", "temperature"]);
  return Object.entries(MIXERS).map(([name, e]) => ({ name, needsFeedback: !fixed.has(name), summary: e.summary }));
}

export function createMixer(spec: MixerSpec, domains: DomainInfo[]): Mixer {
  const e = Object.hasOwn(MIXERS, spec.name) ? MIXERS[spec.name] : undefined;
  if (!e) throw new ConfigError("mixer.name", `unknown mixer "${spec.name}" (known: ${Object.keys(MIXERS).join(", ")})`);
  if (domains.length === 0) throw new ConfigError("domains", "a mixer needs at least one domain");
  const seen = new Set<string>();
  domains.forEach((d, i) => {
    if (seen.has(d.name)) throw new ConfigError(`domains[${i}].name`, `duplicate domain "${d.name}"`);
    seen.add(d.name);
  });
  const parsed = e.schema.safeParse(spec.params ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const keys = issue.code === "unrecognized_keys" ? issue.keys : [];
    const path = ["mixer.params", ...issue.path.map((k) => (typeof k === "number" ? `[${k}]` : String(k))), ...keys].join(".").replace(/\.\[/g, "[");
    throw new ConfigError(path, issue.message);
  }
  return e.build(domains, parsed.data);
}
