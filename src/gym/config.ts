/**
 * A gym config is a loader config (config/schema.ts, validated unchanged) plus a `gym`
 * section: the held-out sets, the learner, the reference run, per-mixer params and the
 * synthetic environment. Splitting it this way keeps the loader's strict schema untouched
 * and lets `mixload batches --config` read the same data a gym run trained on (after the
 * `gym` key is removed).
 */
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { formatPath, parseConfig, type LoadedConfig } from "../config/load.js";
import { domainSchema } from "../config/schema.js";
import { ConfigError } from "../util/errors.js";

const law = z
  .object({
    /** Domain size in tokens (the natural-mix prior). */
    tokens: z.number().positive(),
    E: z.number().finite().nonnegative(),
    B: z.number().finite().positive(),
    beta: z.number().finite().positive().max(3),
  })
  .strict();

export const syntheticSchema = z
  .object({
    /** Tokens per step (default: world × batch_size × seq_len of the loader config). */
    tokens_per_step: z.number().int().positive().optional(),
    /** Off-diagonal transfer τ: D_eff,i = D_i + τ Σ_{j≠i} D_j. */
    transfer: z.number().min(0).max(1).default(0.1),
    /** Relative noise σ of the per-step training loss, ℓ·(1 + σ·ε), ε ~ N(0, 1) from the seed. */
    noise: z.number().min(0).max(1).default(0.02),
    /** Tokens every domain is credited with before step 0 (keeps L finite at D = 0). */
    offset_tokens: z.number().positive().default(1000),
    /** L_i(D) = E + B / D^β per domain name. */
    laws: z.record(z.string(), law),
  })
  .strict();

export const gymSchema = z
  .object({
    /** Default for --steps. */
    steps: z.number().int().positive().default(200),
    /** Evaluate the held-out sets every this many steps (and after the last). */
    eval_every: z.number().int().positive().default(10),
    /** Feedback of step s folds into the mixer before step s + lag is built (the service's lag). */
    feedback_lag: z.number().int().min(0).max(1000).default(2),
    /** Repetitions: seeds seed, seed + 1, … (data order, split and learner); intervals need ≥ 2, the issue asks ≥ 5. */
    seeds: z.number().int().min(1).max(100).default(5),
    learner: z
      .object({
        /** A registered learner (learners.ts): "ngram", or e.g. "torch" once registered. */
        kind: z.string().min(1).default("ngram"),
        /** The n-gram learner's discount (shorthand for params.discount). */
        discount: z.number().gt(0).lt(1).default(0.75),
        params: z.record(z.string(), z.unknown()).default({}),
      })
      .strict()
      .default({ kind: "ngram", discount: 0.75, params: {} }),
    /** Document split per seed (split.ts): fractions of each domain's documents for the reference and the held-out parts. */
    split: z
      .object({ reference: z.number().gt(0).lt(1).default(0.25), heldout: z.number().gt(0).lt(1).default(0.15) })
      .strict()
      .refine((f) => f.reference + f.heldout < 1, { message: "reference + heldout must leave a train part (< 1)" })
      .default({ reference: 0.25, heldout: 0.15 }),
    /**
     * Held-out tokens evaluated per domain (and for the target set): documents are cut to their
     * first seq_len tokens (one evaluation segment) and taken in doc-id order up to this many
     * tokens. Evaluation runs every eval_every steps for every run, so it dominates the gym's time
     * when a domain's held-out part is large (long emails, source files).
     */
    heldout_tokens: z.number().int().positive().default(32768),
    /** An out-of-domain held-out set (never trained on): reported for every mixer; DoGE aligns to it when doge_target is true. */
    target: domainSchema.optional(),
    /** DoGE's out-of-domain mode: s_i = ⟨u_i, u_target⟩ / mean ‖u_j‖ against the target set instead of the other domains. */
    doge_target: z.boolean().default(false),
    /** Weight checks reported per mixer, e.g. { lower: "spam", than: "ham" }: achieved share(lower) − share(than) over seeds. */
    weight_checks: z.array(z.object({ lower: z.string().min(1), than: z.string().min(1) }).strict()).default([]),
    reference: z
      .object({
        /** Mix the DoReMi reference learner is trained on (doremi issue #21 advises natural). */
        mix: z.enum(["natural", "uniform"]).default("natural"),
        /** Added to the seed for the reference run, so its document order differs from the mixers'. */
        seed_offset: z.number().int().min(0).default(1),
      })
      .strict()
      .default({ mix: "natural", seed_offset: 1 }),
    /** The `lr` sent with every feedback (DoGE multiplies its alignment scores by it). */
    doge_lr: z.number().positive().default(0.05),
    /** Optional, per training domain: held-out documents from other files (the domain's split then has no held-out part). */
    heldout: z.array(domainSchema).default([]),
    /** Mixer name → params, overriding the gym's defaults for that mixer. */
    mixers: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
    synthetic: syntheticSchema.optional(),
  })
  .strict();

export type GymSection = z.infer<typeof gymSchema>;
export type SyntheticSection = z.infer<typeof syntheticSchema>;

export interface GymConfig {
  readonly loaded: LoadedConfig;
  readonly gym: GymSection;
  /** The raw loader config (without `gym`), for deriving the reference run's config. */
  readonly raw: Record<string, unknown>;
}

export function parseGymConfig(value: unknown, baseDir: string, where = "config"): GymConfig {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new ConfigError("(root)", `${where} must be a JSON object`);
  const { gym, ...raw } = value as Record<string, unknown>;
  const loaded = parseConfig(raw, baseDir, where);
  const parsed = gymSchema.safeParse(gym ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`gym.${formatPath(issue.path)}`, `${issue.message} in ${where}`);
  }
  const names = loaded.config.domains.map((d) => d.name);
  parsed.data.heldout.forEach((h, i) => {
    if (!names.includes(h.name)) throw new ConfigError(`gym.heldout[${i}].name`, `"${h.name}" is not a training domain (${names.join(", ")})`);
  });
  parsed.data.weight_checks.forEach((c, i) => {
    for (const k of ["lower", "than"] as const)
      if (!names.includes(c[k])) throw new ConfigError(`gym.weight_checks[${i}].${k}`, `"${c[k]}" is not a training domain (${names.join(", ")})`);
  });
  if (parsed.data.doge_target && !parsed.data.target) throw new ConfigError("gym.doge_target", `needs a gym.target set in ${where}`);
  return { loaded, gym: parsed.data, raw };
}

export function loadGymConfig(file: string): GymConfig {
  let value: unknown;
  try {
    value = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new ConfigError("(file)", `cannot read ${file} as JSON: ${(e as Error).message}`);
  }
  const g = parseGymConfig(value, path.dirname(path.resolve(file)), file);
  return { ...g, loaded: { ...g.loaded, file: path.resolve(file) } };
}
