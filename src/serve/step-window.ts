/**
 * The step window of a service: the built steps kept for re-asks and `state`, the requests
 * waiting for a step still to build, and each rank's fetch frontier, with the rules that tie
 * them together (docs/PROTOCOL.md "Steps"):
 *
 * - build `prefetch` steps beyond the highest step fetched, and any step a request waits for;
 * - keep `keep_steps` steps counted back from the highest step fetched;
 * - `next_step` (the frontier) is the lowest step not every rank has fetched.
 *
 * Plain data, no sockets and no loader: the service files what its builder made, tests drive it
 * directly. `T` is whatever the caller keeps per built step.
 */

interface Waiter<T> {
  resolve: (b: T) => void;
  reject: (e: unknown) => void;
}

export class StepWindow<T> {
  private readonly built = new Map<number, T>();
  private readonly waiters = new Map<number, Waiter<T>[]>();
  /** Per local rank: one past the highest step it fetched. */
  private readonly fetchedNext: number[];
  /**
   * Steps below this are built and filed (or evicted). Not the loader's step: that advances
   * inside `loader.next()`, a moment before the builder can file the step here.
   */
  nextBuild: number;

  constructor(
    ranks: number,
    start: number,
    private readonly prefetch: number,
    private readonly keepSteps: number,
  ) {
    this.fetchedNext = new Array<number>(ranks).fill(start);
    this.nextBuild = start;
  }

  get(step: number): T | undefined {
    return this.built.get(step);
  }

  maxFetchedNext(): number {
    let m = 0;
    for (const n of this.fetchedNext) if (n > m) m = n;
    return m;
  }

  /** The lowest step not every rank has fetched (`hello.next_step`). */
  frontier(): number {
    let m = Infinity;
    for (const n of this.fetchedNext) if (n < m) m = n;
    return m;
  }

  oldestKept(): number {
    return Math.max(0, this.maxFetchedNext() - this.keepSteps);
  }

  /** Build steps below this: `prefetch` beyond the highest fetched, and any step a request waits for. */
  buildTarget(): number {
    let target = this.maxFetchedNext() + this.prefetch;
    for (const s of this.waiters.keys()) if (s + 1 > target) target = s + 1;
    return target;
  }

  /** Steps up to this may be asked for now (further ahead is step_out_of_range). */
  askLimit(): number {
    return this.maxFetchedNext() + this.prefetch + 1;
  }

  /** Rank `rank` fetched `step`: true when that moved its frontier (so prefetch and eviction may move). */
  fetched(rank: number, step: number): boolean {
    if (step + 1 <= this.fetchedNext[rank]) return false;
    this.fetchedNext[rank] = step + 1;
    return true;
  }

  /** A request for a step not built yet: resolved when `file` gets it, rejected by `rejectAll`. */
  wait(step: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const list = this.waiters.get(step) ?? [];
      list.push({ resolve, reject });
      this.waiters.set(step, list);
    });
  }

  /** File the next built step and answer whoever waits for it. */
  file(step: number, b: T): void {
    this.built.set(step, b);
    this.nextBuild = step + 1;
    const ws = this.waiters.get(step);
    this.waiters.delete(step);
    for (const w of ws ?? []) w.resolve(b);
  }

  rejectAll(error: (step: number) => unknown): void {
    for (const [step, ws] of this.waiters) for (const w of ws) w.reject(error(step));
    this.waiters.clear();
  }

  /** Drop built steps that left the window; returns the oldest step kept. */
  evict(): number {
    const oldest = this.oldestKept();
    for (const s of this.built.keys()) if (s < oldest) this.built.delete(s);
    return oldest;
  }
}
