/**
 * Reading a resume state back in restore().
 *
 * Every dynamic mixer keeps all it changes while running in ONE typed state object; `update()`
 * builds the next one and commits it with a single assignment, `state()` writes it as JSON
 * (keys unchanged since the first release, so old run directories and resume blobs load), and
 * `restore()` reads a JSON state back with a StateReader into a complete new object before
 * assigning it. A bad or foreign blob therefore throws a ConfigError naming the field
 * (`mixer.state.<key>`) and leaves the mixer exactly as it was.
 */
import { ConfigError, type MixerState } from "./contract.js";

const finite = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x);
const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);

export class StateReader {
  private readonly s: Record<string, unknown>;

  /** Checks that `state` is an object written by mixer `name`; `K` is the domain count vectors must have. */
  constructor(
    state: MixerState,
    name: string,
    readonly K: number,
  ) {
    if (!isObject(state)) throw new ConfigError("mixer.state", `expected an object, got ${JSON.stringify(state)}`);
    if (state.name !== name) throw new ConfigError("mixer.state.name", `state belongs to mixer "${String(state.name)}", not "${name}"`);
    this.s = state;
  }

  fail(key: string, message: string): never {
    throw new ConfigError(`mixer.state.${key}`, message);
  }

  /** A finite number. */
  num(key: string): number {
    const v = this.s[key];
    if (!finite(v)) this.fail(key, `expected a finite number, got ${JSON.stringify(v)}`);
    return v;
  }

  /** K finite numbers, one per domain. */
  vec(key: string): Float64Array {
    const v = this.s[key];
    if (!Array.isArray(v) || v.length !== this.K || !v.every(finite)) this.fail(key, `expected ${this.K} finite numbers`);
    return Float64Array.from(v as number[]);
  }

  /** K strings, each one of `allowed` (which signal a domain used last, say). */
  labels<T extends string>(key: string, allowed: readonly T[]): T[] {
    const v = this.list(key);
    const bad = v.findIndex((x) => !allowed.includes(x as T));
    if (bad >= 0) this.fail(`${key}[${bad}]`, `expected one of ${allowed.join(", ")}, got ${JSON.stringify(v[bad])}`);
    return v as T[];
  }

  /** K entries, one per domain, each checked and copied by `read` (which calls fail(...) with the path it is given). */
  perDomain<T>(key: string, read: (x: unknown, at: string) => T): T[] {
    return this.list(key).map((x, i) => read(x, `${key}[${i}]`));
  }

  /** `{field: number[]}` with every listed field present, finite and (with sameLength) of one length: a per-domain history. */
  series<F extends string>(x: unknown, at: string, fields: readonly F[], sameLength: boolean): Record<F, number[]> {
    if (!isObject(x)) this.fail(at, `expected {${fields.join(", ")}}`);
    const out = {} as Record<F, number[]>;
    for (const f of fields) {
      const v = x[f];
      if (!Array.isArray(v) || !v.every(finite)) this.fail(`${at}.${f}`, "expected an array of finite numbers");
      out[f] = [...(v as number[])];
    }
    if (sameLength && fields.some((f) => out[f].length !== out[fields[0]].length)) this.fail(at, `${fields.join(", ")} must have the same length`);
    return out;
  }

  /**
   * A plain object holding the given numeric fields, copied as saved. `finiteOnly` fields must
   * be finite numbers; the `nullable` ones may also be null — the JSON form of ±∞/NaN, which
   * report-only fields (a fit's rmse when every start failed, say) can hold in a saved state.
   */
  record<F extends string>(x: unknown, at: string, finiteOnly: readonly F[], nullable: readonly string[] = []): Record<F, number> & Record<string, unknown> {
    if (!isObject(x)) this.fail(at, "expected an object");
    for (const f of finiteOnly) if (!finite(x[f])) this.fail(`${at}.${f}`, `expected a finite number, got ${JSON.stringify(x[f])}`);
    for (const f of nullable)
      if (!(typeof x[f] === "number" || x[f] === null)) this.fail(`${at}.${f}`, `expected a number or null, got ${JSON.stringify(x[f])}`);
    return { ...x } as Record<F, number> & Record<string, unknown>;
  }

  /** An array of K entries. */
  private list(key: string): unknown[] {
    const v = this.s[key];
    if (!Array.isArray(v) || v.length !== this.K) this.fail(key, `expected ${this.K} entries`);
    return v;
  }
}
