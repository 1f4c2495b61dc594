/**
 * docs/protocol-schema.json: the one machine-readable protocol description (generated from
 * src/protocol/types.ts by src/protocol/schema.ts) that the Python client loads at import.
 * It must be up to date, its copy inside the Python package must be the same bytes, and what
 * it says about feedback (fields, value rules, how ranks combine) must be what the service's
 * own validator and aggregation do.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { encodeHeader } from "../../src/protocol/codec.js";
import { SCHEMA_FILES, protocolSchema, protocolSchemaText } from "../../src/protocol/schema.js";
import { OPTIONAL_SIGNALS, ProtocolError, type DomainSignals, type FeedbackRequest, type OptionalSignal } from "../../src/protocol/types.js";
import { checkFeedback, parseRequest } from "../../src/protocol/validate.js";
import { aggregate, rankFeedback } from "../../src/serve/feedback-book.js";
import { ROOT } from "./helpers.js";

const REGENERATE = "npm run build && node dist/src/protocol/schema.js --write";
const schema = protocolSchema();
const DOMAINS = ["news", "humor"];

/** The error a request raises in the service's parser and checker, or the merged signals. */
function feedback(h: Record<string, unknown>): ProtocolError | ReturnType<typeof checkFeedback> {
  try {
    const req = parseRequest([encodeHeader({ v: 1, op: "feedback", step: 0, rank: 0, ...h })]) as FeedbackRequest;
    return checkFeedback(req, DOMAINS);
  } catch (e) {
    if (e instanceof ProtocolError) return e;
    throw e;
  }
}

describe("docs/protocol-schema.json", () => {
  it.each(SCHEMA_FILES)("%s is what src/protocol/types.ts generates today", (file) => {
    const text = fs.readFileSync(path.join(ROOT, file), "utf8");
    expect(text === protocolSchemaText(), `${file} is stale or edited by hand: regenerate it with \`${REGENERATE}\``).toBe(true);
  });

  it("the Python package ships the same bytes as docs/ (an installed client reads its own copy)", () => {
    const [doc, copy] = SCHEMA_FILES.map((f) => fs.readFileSync(path.join(ROOT, f)));
    expect(copy.equals(doc), `clients/python/mixload_client/protocol-schema.json differs from docs/: ${REGENERATE}`).toBe(true);
  });

  it("lists every op with its request fields, and a feedback entry is exactly loss_sum, tokens and the optional signals", () => {
    expect(Object.keys(schema.requests)).toEqual(schema.ops);
    expect(Object.keys(schema.feedback.domain_fields)).toEqual(["loss_sum", "tokens"]);
    expect(Object.keys(schema.feedback.optional_signals)).toEqual([...OPTIONAL_SIGNALS]);
    expect(Object.keys(schema.feedback.optional_signals)).toContain("eval_loss");
    // Every optional signal is also a top-level map field of the feedback request.
    for (const k of OPTIONAL_SIGNALS) expect(schema.requests.feedback[k]).toMatchObject({ type: "domain_map", required: false });
  });

  it("every request the schema describes, with all its fields, passes the service's parser", () => {
    const sample: Record<string, unknown> = { integer: 1, number: 0.5, domain_signals: { news: { loss_sum: 1, tokens: 1 } }, domain_map: { news: 0.5 } };
    for (const [op, fields] of Object.entries(schema.requests)) {
      const h: Record<string, unknown> = {};
      for (const [name, f] of Object.entries(fields as Record<string, { type: string; value?: unknown }>))
        h[name] = f.type === "const" ? f.value : sample[f.type];
      expect(() => parseRequest([encodeHeader(h)]), `${op}: ${JSON.stringify(h)}`).not.toThrow();
    }
  });

  describe.each(Object.entries(schema.feedback.optional_signals))("feedback signal %s", (name, spec) => {
    it(`is accepted in a domain entry and as a top-level map (${spec.placement.join(", ")})`, () => {
      const inEntry = feedback({ domains: { news: { loss_sum: 2, tokens: 4, [name]: 0.75 } } });
      const asMap = feedback({ domains: { news: { loss_sum: 2, tokens: 4 } }, [name]: { news: 0.75 } });
      for (const got of [inEntry, asMap]) {
        expect(got).toBeInstanceOf(Map);
        expect((got as Map<string, DomainSignals>).get("news")?.[name as OptionalSignal]).toBe(0.75);
      }
    });

    it(`is checked as ${spec.value} (invalid_feedback otherwise)`, () => {
      const at = (x: number) => feedback({ domains: { news: { loss_sum: 2, tokens: 4, [name]: x } } });
      expect(at(Infinity)).toMatchObject({ code: "invalid_feedback", field: `${name}.news` });
      if (spec.value === "nonnegative") expect(at(-0.5)).toMatchObject({ code: "invalid_feedback", field: `${name}.news` });
      else expect(at(-0.5)).toBeInstanceOf(Map);
    });

    it(`combines over ranks as a ${spec.ranks}`, () => {
      const rank = (x: number) => rankFeedback(new Map([["news", { loss_sum: 1, tokens: 2, [name]: x }]]), DOMAINS, undefined);
      const { logged } = aggregate(0, { ranks: [rank(1), rank(3)] }, DOMAINS);
      expect(logged.news[name]).toBe(spec.ranks === "sum" ? 4 : 2);
    });
  });

  it("a domain entry field the schema does not list is bad_request naming it", () => {
    expect(feedback({ domains: { news: { loss_sum: 2, tokens: 4, eval_los: 1 } } })).toMatchObject({ code: "bad_request", field: "domains.news.eval_los" });
  });
});
