/**
 * `mixload provenance` against a real served run (JSONL + Parquet, llama3 tokenizer, ipc ZeroMQ):
 * the step rebuilt offline from the run directory gives, rank by rank, exactly the segments the
 * live `provenance` op answered; `--row/--col` names the segment and offset of the served token,
 * and `--text` decodes the document read back from its file around it, the token marked; bad
 * input is one line naming what is wrong, and data changed since the run is refused.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { provenanceSegments, type ProvenanceSegment } from "../../src/protocol/provenance.js";
import { readRunDir } from "../../src/replay/run-dir.js";
import { formatStep, formatToken, stepReport, type StepReport, type TokenProvenance } from "../../src/cli/provenance.js";
import { loadTokenizer } from "../../src/tokenize/tokenizer.js";
import { BATCH, SEQ_LEN, SourceReader, TOKENIZER, WORLD, serveAndCollect, writeProvenanceRun, type ServedStep } from "../serve/provenance-fixture.js";
import { mixload } from "./mixload.js";

const STEPS = 6;
let run: { dir: string; config: string; runDir: string };
let served: ServedStep[];
let domains: string[];

const live = (step: number, rank: number): ProvenanceSegment[] => provenanceSegments(served[step].ranks[rank].provenance, domains);

beforeAll(async () => {
  run = await writeProvenanceRun("cli");
  ({ served, domains } = await serveAndCollect(run.config, STEPS));
}, 120_000);

afterAll(() => {
  if (run !== undefined) fs.rmSync(run.dir, { recursive: true, force: true });
});

describe("mixload provenance", () => {
  it("rebuilt offline, every step's segments equal the live op's, rank by rank", async () => {
    const step = 3;
    const report = await stepReport(readRunDir(run.runDir), step, undefined, 1);
    expect(report.ranks.map((r) => r.rank)).toEqual([0, 1]);
    for (const { rank, segments } of report.ranks) expect(segments, `step ${step} rank ${rank}`).toEqual(live(step, rank));
    // What the command prints without --json: a header and one line per segment, per rank.
    const text = formatStep(report);
    expect(text).toMatch(/^step 3 rank 0: \d+ document segments\n {2}row +col +len +domain/);
    expect(text.split("\n").length).toBe(4 + live(step, 0).length + live(step, 1).length);
  }, 120_000);

  it("--json prints the same segments as the live op (the command as users run it)", async () => {
    const step = STEPS - 1;
    const r = await mixload("provenance", "--log", run.runDir, "--step", String(step), "--json", "--workers", "1");
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as StepReport;
    expect(report.step).toBe(step);
    for (let rank = 0; rank < WORLD; rank++) expect(report.ranks[rank].segments).toEqual(live(step, rank));
  }, 120_000);

  it("--row/--col --text: the served token's segment and offset, and the document around it re-tokenized from its file", async () => {
    // A token well inside a mail or code document (a piece with offset > 0 if there is one).
    const step = 2;
    const rank = 1;
    const segs = live(step, rank);
    const seg = segs.find((s) => s.offset > 0 && s.length > 4) ?? segs.find((s) => s.length > 4)!;
    const col = seg.col + 3;
    const args = ["provenance", "--log", run.runDir, "--step", String(step), "--rank", String(rank), "--row", String(seg.row), "--col", String(col)];
    const r = await mixload(...args, "--text", "--json", "--context", "12");
    expect(r.code, r.stderr).toBe(0);
    const t = JSON.parse(r.stdout) as TokenProvenance;
    const batch = served[step].ranks[rank].batch;
    expect(t.token).toBe(batch.input_ids[seg.row * SEQ_LEN + col]);
    expect(t.segment).toEqual(seg);
    expect(t.token_offset).toBe(seg.offset + 3);
    // The text is the document's own tokens around the offset, decoded: check against the file read independently.
    const ids = await new SourceReader().tokens(seg.file, seg.unit, seg.doc);
    expect(ids[t.token_offset]).toBe(t.token);
    const tok = loadTokenizer(TOKENIZER, { cache: false });
    expect(t.text!.from).toBe(Math.max(0, t.token_offset - 12));
    expect(`${t.text!.before}${t.text!.token}${t.text!.after}`).toBe(tok.decode(ids.subarray(t.text!.from, t.text!.to)));
    expect(t.text!.token.length).toBeGreaterThan(0);
    // Without --json the command prints formatToken's lines.
    const human = formatToken(t);
    expect(human).toContain(`step ${step} rank ${rank} row ${seg.row} col ${col}: token ${t.token}`);
    expect(human).toContain(`document ${seg.file} ${seg.unit} ${seg.doc}: token ${t.token_offset} of ${seg.doc_length}`);
    expect(human).toContain(`⟦${t.text!.token}⟧`);
  }, 120_000);

  it("bad input is one line naming what is wrong", async () => {
    const cases: [string[], RegExp][] = [
      [["--step", "999"], /--step 999: .*schedule\.jsonl has no batch record for it \(logged steps: 0\.\.\d+\)/],
      [["--step", "1", "--rank", "2"], /--rank 2: the run has world 2/],
      [["--step", "1", "--row", "0"], /--row and --col go together/],
      [["--step", "1", "--text"], /--text needs --row and --col/],
      [["--step", "1", "--row", String(BATCH), "--col", "0"], /--row 2: a rank's batch has 2 rows/],
    ];
    for (const [args, want] of cases) {
      const r = await mixload("provenance", "--log", run.runDir, ...args);
      expect(r.code, args.join(" ")).toBe(1);
      expect(r.stderr.trim().split("\n"), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(want);
    }
  }, 120_000);

  it("refuses to name documents when the data changed since the run (the rebuilt step differs from the logged digest)", async () => {
    const file = path.join(run.dir, "mail.jsonl");
    const lines = fs.readFileSync(file, "utf8").split("\n");
    fs.writeFileSync(file, lines.map((l) => (l === "" ? l : JSON.stringify({ text: `changed ${(JSON.parse(l) as { text: string }).text}` }))).join("\n"));
    const r = await mixload("provenance", "--log", run.runDir, "--step", String(STEPS - 1), "--workers", "1");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /step 5 cannot be rebuilt as served: at step \d+ the digest differs from the log .*did the data or the config change since the run\?/,
    );
  }, 120_000);
});
