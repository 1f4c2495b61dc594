/**
 * `mixload provenance --log RUN_DIR --step S [--rank R] [--row B --col T] [--json] [--text]`:
 * where the tokens of a served batch came from, for any logged step — "where did this memorised
 * string come from?", contamination checks.
 *
 * A batch is a pure function of (config, seed, recorded weight schedule), so the step is rebuilt
 * offline by `replay --verify`'s loop (replay/verify.ts) and checked against the digest the
 * service logged for it; its segments are resolved by the same code as the service's
 * `provenance` op (serve/provenance.ts), so the two answers are equal by construction and the
 * tests hold them to it. With `--row/--col` it names the one segment covering that token; with
 * `--text` it reads that document from its source, tokenizes it again, checks that the token at
 * the named offset is the served one, and decodes the tokens around it.
 */
import { readDocuments } from "../sources/types.js";
import type { Loader } from "../loader/loader.js";
import { provenanceSegments, segmentAt, placeText, type ProvenanceSegment } from "../protocol/provenance.js";
import { readRunDir, RecordedSchedule, type RunDir } from "../replay/run-dir.js";
import { verifyRun } from "../replay/verify.js";
import { rankProvenance, stepProvenance } from "../serve/provenance.js";
import { ConfigError, DataError } from "../util/errors.js";

export interface ProvenanceOptions {
  log: string;
  step: number;
  rank?: number;
  row?: number;
  col?: number;
  json?: boolean;
  text?: boolean;
  /** Tokens shown on each side of the token with --text. */
  context?: number;
  config?: string;
  workers?: number;
}

/** The token at (row, col) of a rank's batch, its segment, and with --text the document around it. */
export interface TokenProvenance {
  step: number;
  rank: number;
  row: number;
  col: number;
  /** The served token id (input_ids[row, col]). */
  token: number;
  segment: ProvenanceSegment;
  /** The token's offset inside its document. */
  token_offset: number;
  text?: { from: number; to: number; before: string; token: string; after: string };
}

export interface StepReport {
  step: number;
  ranks: { rank: number; segments: ProvenanceSegment[] }[];
}

/** Tokens on each side of the marked token with --text, unless --context says otherwise. */
const DEFAULT_CONTEXT = 24;

const cliError = (message: string): ConfigError => new ConfigError("(cli)", message);

/**
 * Rebuild step `step` of a run and hand its loader (still open, right after building that step)
 * to `use`. Refuses a step the log does not hold, and a rebuild whose digest differs from the
 * logged one (the data or the code changed since the run: provenance would name other documents).
 */
export async function withRebuiltStep<T>(
  run: RunDir,
  step: number,
  use: (loader: Loader, global: { input_ids: Int32Array; seqLen: number }) => Promise<T>,
  workers?: number,
): Promise<T> {
  const logged = new RecordedSchedule(run).length;
  if (!run.batches.some((b) => b.step === step)) {
    throw cliError(`--step ${step}: ${run.dir}/schedule.jsonl has no batch record for it (logged steps: ${logged === 0 ? "none" : `0..${logged - 1}`})`);
  }
  let out: { value: T } | undefined;
  const result = await verifyRun(run, {
    workers,
    steps: step + 1,
    onBatch: async (s, batch, loader) => {
      if (s === step) out = { value: await use(loader, { input_ids: batch.input_ids, seqLen: batch.seqLen }) };
    },
  });
  const first = result.first;
  if (first !== null && first.step <= step) {
    throw cliError(
      `step ${step} cannot be rebuilt as served: at step ${first.step} the ${first.what} differs from the log (${first.detail}); did the data or the config change since the run?`,
    );
  }
  if (out === undefined) throw cliError(`step ${step}: the data ran out while rebuilding it`);
  return out.value;
}

export async function provenanceCommand(o: ProvenanceOptions): Promise<void> {
  const run = readRunDir(o.log, { config: o.config });
  const { world, batch_size: B, seq_len: L } = run.loaded.config;
  if (o.rank !== undefined && o.rank >= world) throw cliError(`--rank ${o.rank}: the run has world ${world} (ranks 0..${world - 1})`);
  if ((o.row === undefined) !== (o.col === undefined)) throw cliError("--row and --col go together (the token at row B, column T of the rank's batch)");
  if (o.text && o.row === undefined) throw cliError("--text needs --row and --col: the document around which token?");
  if (o.row !== undefined && o.row >= B) throw cliError(`--row ${o.row}: a rank's batch has ${B} rows (0..${B - 1})`);
  if (o.col !== undefined && o.col >= L) throw cliError(`--col ${o.col}: rows have ${L} columns (0..${L - 1})`);

  if (o.row !== undefined && o.col !== undefined) {
    const t = await tokenProvenance(run, { ...o, rank: o.rank ?? 0, row: o.row, col: o.col });
    process.stdout.write(o.json ? `${JSON.stringify(t, null, 2)}\n` : `${formatToken(t)}\n`);
    return;
  }
  const report = await stepReport(run, o.step, o.rank, o.workers);
  process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatStep(report)}\n`);
}

/** Every segment of step `step`, for one rank or all of them. */
export async function stepReport(run: RunDir, step: number, rank: number | undefined, workers?: number): Promise<StepReport> {
  const { world, batch_size: B } = run.loaded.config;
  return withRebuiltStep(
    run,
    step,
    async (loader) => {
      const p = stepProvenance(loader);
      const ranks = rank === undefined ? Array.from({ length: world }, (_, r) => r) : [rank];
      return { step, ranks: ranks.map((r) => ({ rank: r, segments: provenanceSegments(rankProvenance(p, step, r, B), run.domains) })) };
    },
    workers,
  );
}

/** The segment covering token (row, col) of a rank's batch; with `text`, the document around it. */
export async function tokenProvenance(
  run: RunDir,
  o: { step: number; rank: number; row: number; col: number; text?: boolean; context?: number; workers?: number },
): Promise<TokenProvenance> {
  const { batch_size: B } = run.loaded.config;
  return withRebuiltStep(
    run,
    o.step,
    async (loader, batch) => {
      const p = stepProvenance(loader);
      const columns = rankProvenance(p, o.step, o.rank, B);
      const i = segmentAt(columns, o.row, o.col);
      if (i < 0) throw cliError(`step ${o.step} rank ${o.rank} row ${o.row} col ${o.col} is padding: no document there`);
      const segment = provenanceSegments(columns, run.domains)[i];
      const globalRow = o.rank * B + o.row;
      const token = batch.input_ids[globalRow * batch.seqLen + o.col];
      const tokenOffset = segment.offset + o.col - segment.col;
      const out: TokenProvenance = { step: o.step, rank: o.rank, row: o.row, col: o.col, token, segment, token_offset: tokenOffset };
      if (o.text) {
        // The segment's reference (same row, same place in it) locates the document in its source.
        const ref = loader.lastServed()[globalRow][i - (p.rowStarts[globalRow] - p.rowStarts[o.rank * B])];
        const ids = await documentTokens(loader, ref[1], ref[2], ref[3]);
        if (ids[tokenOffset] !== token) {
          throw new DataError(
            "bad_format",
            segment.file,
            segment.unit === "line" ? segment.doc : segment.unit === "row" ? `row ${segment.doc}` : undefined,
            `token ${tokenOffset} of the document re-tokenized is ${ids[tokenOffset]}, but ${token} was served there: the file changed since the run`,
          );
        }
        out.text = neighbourhood(loader, ids, tokenOffset, o.context ?? DEFAULT_CONTEXT);
      }
      return out;
    },
    o.workers,
  );
}

/** The document at (epoch, position) of a domain, read from its source and tokenized as the loader does (EOS appended). */
async function documentTokens(loader: Loader, domain: number, epoch: number, position: number): Promise<Int32Array> {
  const { source, index } = loader.documentAt(domain, { epoch, position });
  const [doc] = await readDocuments(source, [index]);
  if (doc.kind === "bad") throw new DataError(doc.reason, doc.file, doc.line ?? (doc.row === undefined ? undefined : `row ${doc.row}`), doc.detail);
  return doc.kind === "tokens" ? doc.tokens : (await loader.tokenizer.encode([doc.text]))[0];
}

/**
 * Decode tokens [t − context, t + context] with token t marked. Decoded as prefixes of one run
 * (not piece by piece), so word-initial spaces and multi-token characters come out as in the text.
 */
function neighbourhood(loader: Loader, ids: Int32Array, t: number, context: number): NonNullable<TokenProvenance["text"]> {
  const from = Math.max(0, t - context);
  const to = Math.min(ids.length, t + context + 1);
  const decode = (a: number, b: number): string => loader.tokenizer.decode(ids.subarray(a, b));
  const before = decode(from, t);
  const through = decode(from, t + 1);
  const all = decode(from, to);
  const token = through.startsWith(before) ? through.slice(before.length) : decode(t, t + 1);
  const after = all.startsWith(through) ? all.slice(through.length) : decode(t + 1, to);
  return { from, to, before, token, after };
}

export function formatStep(r: StepReport): string {
  const lines: string[] = [];
  for (const { rank, segments } of r.ranks) {
    lines.push(`step ${r.step} rank ${rank}: ${segments.length} document segments`);
    lines.push("  row   col   len  domain           epoch  offset/doc_len  document");
    for (const s of segments) {
      lines.push(
        `  ${pad(s.row, 3)} ${pad(s.col, 5)} ${pad(s.length, 5)}  ${s.domain.padEnd(15)} ${pad(s.epoch, 6)}  ${`${s.offset}/${s.doc_length}`.padStart(14)}  ${placeText(s)}`,
      );
    }
  }
  return lines.join("\n");
}

export function formatToken(t: TokenProvenance): string {
  const s = t.segment;
  const lines = [
    `step ${t.step} rank ${t.rank} row ${t.row} col ${t.col}: token ${t.token}`,
    `  segment  cols ${s.col}..${s.col + s.length - 1} of row ${s.row} (${s.length} tokens), domain ${s.domain}, epoch ${s.epoch}`,
    `  document ${placeText(s)}: token ${t.token_offset} of ${s.doc_length} (the segment starts at token ${s.offset})`,
  ];
  if (t.text !== undefined) {
    const x = t.text;
    lines.push(`  text     tokens ${x.from}..${x.to - 1} of the document re-tokenized, the served token between ⟦ ⟧:`, "");
    lines.push(`${x.before}⟦${x.token}⟧${x.after}`);
  }
  return lines.join("\n");
}

const pad = (n: number, w: number): string => String(n).padStart(w);
