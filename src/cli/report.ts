/** `mixload report RUN_DIR [--out FILE.html]`: the run's charts as one offline HTML file, SVGs and PNGs (report/report.ts). */
import { buildReport } from "../report/report.js";

export interface ReportCliOptions {
  out?: string;
  rebuild?: boolean;
  png?: boolean;
  workers?: number;
}

export async function reportCommand(runDir: string, o: ReportCliOptions): Promise<void> {
  const r = await buildReport(runDir, {
    out: o.out,
    rebuild: o.rebuild,
    png: o.png,
    workers: o.workers,
    log: (l) => process.stderr.write(`mixload report: ${l}\n`),
  });
  const lines = [
    `report: ${r.html}`,
    `charts: ${r.svgs.length} SVG${r.pngs.length ? ` + ${r.pngs.length} PNG` : ""} in ${r.svgs.length ? r.svgs[0].replace(/\/[^/]+$/, "") : "-"}`,
  ];
  if (r.verify && !r.verify.ok)
    lines.push(
      `WARNING: the rebuilt batches do not match the log from step ${r.verify.first?.step} (${r.verify.first?.what}); run \`mixload replay --log ${runDir} --verify\``,
    );
  process.stdout.write(`${lines.join("\n")}\n`);
}
