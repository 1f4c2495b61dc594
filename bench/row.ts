/**
 * One benchmark result, and its verdict. Every row with a target carries `met`, the `anchor` it
 * is judged against and the `ratio` to it, so readers of `npm run bench -- --json` never parse
 * the note. The machine here is shared and its speed moves between runs; a ratio to an anchor
 * measured in the same run moves much less than an absolute figure, which is why targets are
 * stated as ratios wherever something in the run can anchor them.
 */

export interface Anchor {
  /** What was measured (or, for an absolute target with nothing to compare with, `budget: …`). */
  name: string;
  value: number;
}

export interface Row {
  stage: string;
  value: number;
  unit: string;
  target?: string;
  note?: string;
  /** Whether the target holds in this run (present exactly when `target` is). */
  met?: boolean;
  /**
   * What the row is compared with, measured in the same run (raw ZeroMQ, native tokenizers, the
   * same files local, ...). Rows whose target is an absolute budget with nothing in the run to
   * compare against (tokens/s, µs, MB) use the budget itself, named `budget: …`.
   */
  anchor?: Anchor;
  /** The row's figure relative to the anchor (value ÷ anchor unless the stage's code says otherwise). */
  ratio?: number;
}

export type Comparison = "≥" | "≤" | "<" | ">";

function holds(x: number, cmp: Comparison, limit: number): boolean {
  switch (cmp) {
    case "≥":
      return x >= limit;
    case "≤":
      return x <= limit;
    case "<":
      return x < limit;
    case ">":
      return x > limit;
  }
}

/**
 * Judged by the ratio to an anchor measured in the same run, e.g. `≥ 0.8× raw`. `ratio` defaults
 * to value ÷ anchor; pass it when the row's figure is itself a ratio (a median of paired ratios).
 */
export function byRatio(row: Row, anchor: Anchor, cmp: Comparison, limit: number, ratio = row.value / anchor.value): Row {
  return { ...row, target: row.target ?? `${cmp} ${limit}×`, met: holds(ratio, cmp, limit), anchor, ratio };
}

/**
 * Judged by the value against an absolute budget, e.g. `≤ 300` MB. `anchor`: something measured
 * in the same run to show beside it (a fresh start for resume times); without one, the budget.
 */
export function byValue(row: Row, cmp: Comparison, budget: number, anchor?: Anchor): Row {
  const a = anchor ?? { name: `budget: ${cmp} ${budget} ${row.unit}`.trim(), value: budget };
  return { ...row, target: row.target ?? `${cmp} ${budget}`, met: holds(row.value, cmp, budget), anchor: a, ratio: row.value / a.value };
}

/** Rows with a target but no verdict (a bench module not yet filling the fields): named, so none passes unseen. */
export function missingVerdicts(rows: readonly Row[]): string[] {
  return rows.filter((r) => r.target !== undefined && (r.met === undefined || r.anchor === undefined || r.ratio === undefined)).map((r) => r.stage);
}
