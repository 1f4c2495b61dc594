/**
 * Mixer params the gym fills in when the gym config does not say otherwise. The registry's
 * own defaults are sized for LLM runs of thousands of steps (velocitune updates every 100
 * steps, ADO starts at step 1000); a gym run is ~200 steps, so the step-count knobs are
 * scaled to the run and the run's own budget is passed where a mixer needs it. Everything
 * here is overridable per mixer through `gym.mixers.<name>`.
 */
export interface RunShape {
  readonly steps: number;
  readonly tokensPerStep: number;
  readonly evalEvery: number;
  readonly vocabSize: number;
}

export function gymDefaults(name: string, run: RunShape): Record<string, unknown> {
  switch (name) {
    case "doremi":
      // Initial λ = ln |V| for domains not yet seen, as in the official code.
      return { vocab_size: run.vocabSize };
    case "velocitune":
      // One velocity update per held-out evaluation; targets extrapolated to the run's budget.
      return { update_every: run.evalEvery, target_tokens: run.steps * run.tokensPerStep };
    case "bimix":
      // Fit the law online from this run's ⟨r, s, L⟩ and optimise for the last step.
      return { target_step: run.steps, refit_every: Math.max(run.evalEvery, 10) };
    case "ado":
      // Refit every two evaluations from the first fifth of the run on, two-step averages.
      return {
        start_step: Math.max(10, Math.round(run.steps / 5)),
        ignore_steps: 0,
        update_every: 2 * run.evalEvery,
        subsample: 2,
      };
    case "aioli":
      // Two rounds per run; one sweep of 2-step probes (≥ the gym's feedback lag of 2), so the
      // probe block (K·2 steps) stays a fraction of a round for K up to ~steps/4.
      return { update_steps: Math.max(1, Math.ceil(run.steps / 2)), lp_rounds: 1, lp_steps: 2 };
    default:
      return {};
  }
}
