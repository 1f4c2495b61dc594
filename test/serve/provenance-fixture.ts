/**
 * A real served run for the provenance tests (two loader lanes): JSONL mails (with blank lines, so line numbers are
 * not document indices) and two Parquet datasets (Brown paragraphs in two shards with small row
 * groups, source files of an npm package, longer than a row so they are cut into pieces), the
 * llama3 tokenizer, the service over ipc ZeroMQ sockets, and clients fetching every rank's batch
 * and its provenance while the step is in the window.
 *
 * `SourceReader` reads a named document back the way a user would, independently of mixload's
 * sources: JSONL by line number, Parquet rows with hyparquet, and tokenizes it with the plain
 * tokenizers library (not mixload's cached encoder).
 */
import fs from "node:fs";
import path from "node:path";
import { asyncBufferFromFile, parquetReadObjects } from "hyparquet";
import { compressors } from "hyparquet-compressors";
import { loadConfig } from "../../src/config/load.js";
import { MixloadClient, type ClientBatch } from "../../src/client/client.js";
import type { ProvenanceColumns } from "../../src/protocol/provenance.js";
import { MixloadService } from "../../src/serve/service.js";
import { loadTokenizer, type LoadedTokenizer } from "../../src/tokenize/tokenizer.js";
import { LLAMA3, tempDir } from "../helpers/fixtures.js";
import { brownDocs, codeDocs, spamDocs, writeParquet, writeParquetDataset } from "../helpers/parquet-fixtures.js";

export const WORLD = 2;
export const BATCH = 2;
export const SEQ_LEN = 256;
export const TOKENIZER = { path: path.join(LLAMA3, "tokenizer.json"), configPath: path.join(LLAMA3, "tokenizer_config.json") };

/** Mails as JSONL, a blank line after every 5th: document i is not line i + 1. */
function writeMailJsonl(file: string): void {
  const lines: string[] = [];
  spamDocs(8).forEach((d, i) => {
    lines.push(JSON.stringify({ text: d.text, id: d.id }));
    if (i % 5 === 4) lines.push("");
  });
  fs.writeFileSync(file, `${lines.join("\n")}\n`);
}

/** The data and a serve config over it (static uniform mix, a window of 6 steps) in a fresh folder. */
export async function writeProvenanceRun(name: string): Promise<{ dir: string; config: string; runDir: string }> {
  const dir = tempDir(`mixload-provenance-${name}-`);
  writeMailJsonl(path.join(dir, "mail.jsonl"));
  await writeParquetDataset(await brownDocs("ca0[1-4]"), path.join(dir, "brown"), { files: 2, rowGroupSize: 40 });
  await writeParquet(codeDocs("hyparquet", "src/*.js"), path.join(dir, "code.parquet"), { rowGroupSize: 8 });
  const runDir = path.join(dir, "run");
  const config = {
    seed: 11,
    seq_len: SEQ_LEN,
    batch_size: BATCH,
    world: WORLD,
    // Two loader lanes, each reading its own share of every domain's order: provenance must map
    // a lane's documents back to the domain's files all the same.
    lanes: 2,
    tokenizer: { path: TOKENIZER.path, config: TOKENIZER.configPath, workers: 1 },
    packing: { buffer_docs: 48 },
    domains: [
      { name: "mail", sources: [{ type: "jsonl", path: "mail.jsonl" }] },
      { name: "brown", sources: [{ type: "parquet", path: "brown" }] },
      { name: "code", sources: [{ type: "parquet", path: "code.parquet" }] },
    ],
    mixer: { name: "uniform" },
    serve: { control: `ipc://${dir}/control.sock`, weights: `ipc://${dir}/weights.sock`, run_dir: runDir, keep_steps: 6 },
  };
  const file = path.join(dir, "config.json");
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return { dir, config: file, runDir };
}

export interface ServedStep {
  step: number;
  ranks: { batch: ClientBatch; provenance: ProvenanceColumns }[];
}

/** Serve `steps` steps; every rank fetches each batch and, right after, its provenance. `during` runs before the service closes. */
export async function serveAndCollect(
  config: string,
  steps: number,
  during?: (client: MixloadClient, service: MixloadService) => Promise<void>,
): Promise<{ served: ServedStep[]; domains: string[] }> {
  const service = await MixloadService.open(loadConfig(config), { workers: 1 });
  const client = new MixloadClient({ endpoint: service.controlEndpoint, timeoutMs: 20_000 });
  try {
    const info = await client.hello(0, WORLD);
    const served: ServedStep[] = [];
    for (let step = 0; step < steps; step++) {
      const ranks: ServedStep["ranks"] = [];
      for (let rank = 0; rank < WORLD; rank++) {
        const batch = await client.batch(step, rank);
        ranks.push({ batch, provenance: await client.provenance(step, rank) });
      }
      served.push({ step, ranks });
    }
    await during?.(client, service);
    return { served, domains: info.domains };
  } finally {
    client.close();
    await service.close();
  }
}

/** Documents read straight from the files a provenance answer names, tokenized with the plain library, cached per document. */
export class SourceReader {
  private readonly tokenizer: LoadedTokenizer = loadTokenizer(TOKENIZER, { cache: false });
  private readonly docs = new Map<string, Int32Array>();
  private readonly jsonlLines = new Map<string, string[]>();

  async tokens(file: string, unit: string, doc: number): Promise<Int32Array> {
    const key = `${file}\0${unit}\0${doc}`;
    let ids = this.docs.get(key);
    if (ids === undefined) {
      ids = this.tokenizer.encode(await this.text(file, unit, doc));
      this.docs.set(key, ids);
    }
    return ids;
  }

  async text(file: string, unit: string, doc: number): Promise<string> {
    if (unit === "line") {
      let lines = this.jsonlLines.get(file);
      if (lines === undefined) this.jsonlLines.set(file, (lines = fs.readFileSync(file, "utf8").split("\n")));
      return (JSON.parse(lines[doc - 1]) as { text: string }).text;
    }
    if (unit === "row") {
      const rows = await parquetReadObjects({ file: await asyncBufferFromFile(file), columns: ["text"], rowStart: doc, rowEnd: doc + 1, compressors });
      return (rows[0] as { text: string }).text;
    }
    throw new Error(`${file}: unit ${unit} is not read by this test`);
  }
}
