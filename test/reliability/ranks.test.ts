/**
 * Trainer-side faults against one service (DoReMi, world 2, lag 2): a rank that crashes and
 * reconnects mid-step, feedback re-sent, a rank that never reports, and bad feedback of every
 * kind — none of which may change the weights or the state.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MixloadClient, MixloadError, type ClientBatch } from "../../src/client/client.js";
import { loadConfig } from "../../src/config/load.js";
import { encodeHeader } from "../../src/protocol/index.js";
import { MixloadService, type ProgressEvent } from "../../src/serve/service.js";
import { codeOf, feedbackFor, sha, tempDir, writeConfig, writeCorpus } from "./harness.js";

const dir = tempDir();
let service: MixloadService;
const events: ProgressEvent[] = [];
const clients: MixloadClient[] = [];

function connect(): MixloadClient {
  const c = new MixloadClient({ endpoint: service.controlEndpoint, timeoutMs: 20_000, notReadyWaitMs: 0 });
  clients.push(c);
  return c;
}

/** The raw reply frames of a batch request: "the same bytes" means these. */
async function rawBatch(c: MixloadClient, step: number, rank: number): Promise<Buffer> {
  return Buffer.concat(await c.requestFrames([encodeHeader({ v: 1, op: "batch", step, rank })]));
}

beforeAll(async () => {
  const corpus = writeCorpus(dir, [60, 40, 50], 300);
  service = await MixloadService.open(loadConfig(writeConfig(dir, corpus, "ranks")), {}, (e) => events.push(e));
}, 120_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await service?.close({ writeState: false });
});

describe("trainer rank faults", () => {
  it("a rank that crashes mid-step reconnects, re-asks and gets the same bytes; re-sent feedback is idempotent", async () => {
    const r0 = connect();
    let r1 = connect();
    for (let s = 0; s < 3; s++) {
      const b = [await r0.batch(s, 0), await r1.batch(s, 1)];
      for (const x of b) expect((await [r0, r1][x.rank].feedback(feedbackFor(x))).step).toBe(s);
    }
    // Step 3: rank 1 fetches, sends its feedback, and dies before it hears back.
    const first = await rawBatch(r1, 3, 1);
    const b1 = await r1.batch(3, 1);
    r1.close();
    r1 = connect(); // the restarted rank: a fresh socket, a fresh identity
    expect((await r1.hello(1, 2)).next_step).toBe(3);
    expect(await rawBatch(r1, 3, 1)).toEqual(first);
    const fb1 = feedbackFor(b1);
    expect(await r1.feedback(fb1)).toEqual({ step: 3, complete: false });
    expect(await r1.feedback(fb1)).toEqual({ step: 3, complete: false }); // re-sent: idempotent
    const b0 = await r0.batch(3, 0);
    expect(await r0.feedback(feedbackFor(b0))).toEqual({ step: 3, complete: true });
    const before = sha((await r0.state()).state);
    // Re-sent after the fold: still idempotent, and the fold is not repeated (mixer, schedule
    // and feedback book are all in the state blob).
    expect(await r1.feedback(fb1)).toEqual({ step: 3, complete: true });
    expect(await r0.feedback(feedbackFor(b0))).toEqual({ step: 3, complete: true });
    expect(sha((await r0.state()).state)).toBe(before);
    expect((await r0.stats()).folded_step).toBe(3);
  });

  it("a rank that never reports: later batches are not_ready (never wrong), and the log names the rank and the step", async () => {
    const r0 = connect();
    const r1 = connect();
    // Step 4: both fetch; only rank 0 reports. Step 5 was determined by step 3's feedback.
    const b4 = [await r0.batch(4, 0), await r1.batch(4, 1)];
    await r0.feedback(feedbackFor(b4[0]));
    const b5 = [await r0.batch(5, 0), await r1.batch(5, 1)];
    await r0.feedback(feedbackFor(b5[0]));
    await r1.feedback(feedbackFor(b5[1]));
    // Step 6 needs the fold of step 4, which lacks rank 1.
    for (let i = 0; i < 5; i++) {
      for (const [c, rank] of [
        [r0, 0],
        [r1, 1],
      ] as const) {
        try {
          await c.batch(6, rank);
          expect.unreachable("step 6 must not be served before feedback 4 is complete");
        } catch (e) {
          expect(e).toBeInstanceOf(MixloadError);
          expect((e as MixloadError).code).toBe("not_ready");
          expect((e as MixloadError).message).toMatch(/feedback of step 4 from rank 1\b/);
        }
      }
    }
    const lines = events.filter((e) => e.event === "warning" && /not ready/.test(e.message ?? ""));
    expect(lines.length).toBe(1); // said once, not once per poll
    expect(lines[0].message).toMatch(/step 6 is not ready: .*feedback of step 4 from rank 1 /);
    // Rank 1 comes back and reports: step 6 is served, with the weights step 4's feedback makes.
    await r1.feedback(feedbackFor(b4[1]));
    const b6 = await r1.batch(6, 1);
    expect(b6.step).toBe(6);
    expect((await r0.stats()).folded_step).toBe(5);
  });

  it("bad feedback of every kind is refused with its code and leaves weights and state untouched", async () => {
    const r0 = connect();
    const r1 = connect();
    // Advance so that early steps have left the window (keep_steps 8).
    const b: ClientBatch[][] = [];
    for (let s = 6; s < 16; s++) {
      b[s] = [await r0.batch(s, 0), await r1.batch(s, 1)];
      for (const x of b[s]) await [r0, r1][x.rank].feedback(feedbackFor(x));
    }
    const s = 16;
    b[s] = [await r0.batch(s, 0), await r1.batch(s, 1)];
    await r0.feedback(feedbackFor(b[s][0])); // rank 0 of step 16 is in the book, rank 1 pending
    const stats0 = await r0.stats();
    const blob0 = sha((await r0.state()).state);
    const good = feedbackFor(b[s][1]);
    const domain = Object.keys(good.domains)[0];

    type Bad = { what: string; fb: Record<string, unknown>; code: string };
    const badValue = fc.constantFrom(NaN, Infinity, -Infinity, -1, -1e-300, -1e300);
    const bads: fc.Arbitrary<Bad>[] = [
      badValue.map((x) => ({
        what: `loss_sum ${x}`,
        fb: { ...good, domains: { ...good.domains, [domain]: { ...good.domains[domain], loss_sum: x } } },
        code: "invalid_feedback",
      })),
      fc.constantFrom(NaN, Infinity, -1, 0.5, -7).map((x) => ({
        what: `tokens ${x}`,
        fb: { ...good, domains: { ...good.domains, [domain]: { ...good.domains[domain], tokens: x } } },
        code: "invalid_feedback",
      })),
      badValue.map((x) => ({ what: `excess ${x}`, fb: { ...good, excess_loss_sum: { ...good.excess_loss_sum, [domain]: x } }, code: "invalid_feedback" })),
      badValue.map((x) => ({ what: `lr ${x}`, fb: { ...good, lr: x }, code: "invalid_feedback" })),
      fc
        .string({ minLength: 1, maxLength: 10 })
        .filter((n) => !["alpha", "beta", "gamma"].includes(n))
        .map((n) => ({ what: `domain ${n}`, fb: { ...good, domains: { ...good.domains, [n]: { loss_sum: 1, tokens: 1 } } }, code: "unknown_domain" })),
      fc.constant({ what: "duplicate rank, other content", fb: { ...feedbackFor(b[s][0]), lr: 0.5 }, code: "invalid_feedback" }),
      fc.integer({ min: s + 10, max: s + 1000 }).map((t) => ({ what: `future step ${t}`, fb: { ...good, step: t }, code: "step_out_of_range" })),
      fc.integer({ min: 0, max: 5 }).map((t) => ({ what: `evicted step ${t}`, fb: { ...good, step: t }, code: "step_out_of_range" })),
      fc.integer({ min: 2, max: 1 << 30 }).map((r) => ({ what: `rank ${r}`, fb: { ...good, rank: r }, code: "bad_request" })),
    ];
    const tried = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fc.oneof(...bads), async (bad) => {
        expect(await codeOf(r1.feedback(bad.fb as never)), bad.what).toBe(bad.code);
        const k = bad.what.split(" ")[0];
        tried.set(k, (tried.get(k) ?? 0) + 1);
      }),
      { numRuns: 400, seed: 3 },
    );
    const stats1 = await r0.stats();
    // (stats.weights is the last *built* step's, which the prefetcher moves on its own: compare the mixer itself.)
    expect(stats1.mixer).toEqual(stats0.mixer);
    expect(stats1.folded_step).toBe(stats0.folded_step);
    expect(sha((await r0.state()).state)).toBe(blob0);
    // The good feedback still goes through afterwards.
    expect(await r1.feedback(good)).toEqual({ step: s, complete: true });
    console.log(`bad feedback: 400 refused, weights untouched (${[...tried].map(([k, n]) => `${k} ${n}`).join(", ")})`);
  });
});
