/**
 * `mixload serve --http PORT`: a loopback-only HTTP server beside the service.
 *
 *   GET /            the live dashboard (the report's page, fed over server-sent events)
 *   GET /events      text/event-stream: an `charts` event with the full chart data on connect
 *                    and whenever the run moves (checked every `pollMs`)
 *   GET /api/charts  the same data as JSON
 *   GET /metrics     Prometheus text format: steps, tokens, per-domain weights, losses, shares
 *
 * It reads what the service already writes — the run directory's schedule.jsonl, tailed —
 * plus, optionally, the `stats` op (a `stats()` callback), so the service itself carries no
 * dashboard code and a dashboard can watch any run directory.
 */
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import type { AddressInfo } from "node:net";
import type { ScheduleRecord } from "../serve/run-log.js";
import { RunModel, type LiveStats, type RunInfo } from "../report/model.js";
import { renderPage, vegaRuntime } from "../report/page.js";
import { metricsText } from "./metrics.js";

export interface DashboardOptions {
  runDir: string;
  info: RunInfo;
  /** TCP port on 127.0.0.1; 0 picks a free one. */
  port: number;
  /** Live counters (the service's `stats` op); errors and nulls are ignored. */
  stats?: () => Promise<LiveStats | null>;
  pollMs?: number;
  onClose?: () => void;
}

export class Dashboard {
  private offset = 0;
  private partial = "";
  private readonly clients = new Set<http.ServerResponse>();
  private pushed = -1;
  private timer: NodeJS.Timeout | null = null;
  private ticking = false;
  private page: string | null = null;
  private vega: string | null = null;

  private constructor(
    private readonly server: http.Server,
    readonly model: RunModel,
    private readonly options: DashboardOptions,
  ) {}

  static async start(options: DashboardOptions): Promise<Dashboard> {
    const model = new RunModel(options.info);
    let dash: Dashboard | null = null;
    const server = http.createServer((req, res) => {
      try {
        dash!.handle(req, res);
      } catch (e) {
        if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
        res.end(`internal error: ${(e as Error).message}\n`);
      }
    });
    dash = new Dashboard(server, model, options);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port, "127.0.0.1", () => resolve());
    });
    await dash.tick();
    dash.timer = setInterval(() => void dash!.tick(), options.pollMs ?? 500);
    dash.timer.unref();
    return dash;
  }

  get url(): string {
    const a = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${a.port}/`;
  }

  /** Read new log lines, refresh live stats, push to browsers if anything changed. */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      this.readLog();
      if (this.options.stats) {
        try {
          const s = await this.options.stats();
          if (s) this.model.setLive(s);
        } catch {
          // the service may be busy or gone; the log alone still draws the charts
        }
      }
      if (this.clients.size > 0 && this.model.revision !== this.pushed) {
        this.pushed = this.model.revision;
        const msg = `event: charts\ndata: ${JSON.stringify(this.model.charts())}\n\n`;
        for (const c of this.clients) c.write(msg);
      }
    } finally {
      this.ticking = false;
    }
  }

  private readLog(): void {
    const file = path.join(this.options.runDir, "schedule.jsonl");
    let fd: number;
    try {
      fd = fs.openSync(file, "r");
    } catch {
      return;
    }
    try {
      const size = fs.fstatSync(fd).size;
      if (size < this.offset) {
        this.offset = 0;
        this.partial = "";
      } // truncated or replaced
      if (size === this.offset) return;
      const buf = Buffer.alloc(size - this.offset);
      fs.readSync(fd, buf, 0, buf.length, this.offset);
      this.offset = size;
      const text = this.partial + buf.toString("utf8");
      const lines = text.split("\n");
      this.partial = lines.pop() ?? "";
      for (const line of lines) {
        if (line.trim() === "") continue;
        try {
          this.model.add(JSON.parse(line) as ScheduleRecord);
        } catch {
          // a malformed line: skip it, the next ones still count
        }
      }
    } finally {
      fs.closeSync(fd);
    }
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    switch (url.pathname) {
      case "/":
      case "/index.html":
        this.page ??= renderPage({
          title: `mixload · live · ${this.options.info.run_id}`,
          subtitle: `${this.options.info.domains.length} domains · mixer ${this.options.info.mixer} · ${this.options.runDir} · updates as the run goes (server-sent events)`,
          domains: this.options.info.domains,
        });
        res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" }).end(this.page);
        return;
      case "/assets/vega.min.js":
        this.vega ??= vegaRuntime();
        res.writeHead(200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "max-age=3600" }).end(this.vega);
        return;
      case "/api/charts":
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(this.model.charts()));
        return;
      case "/metrics":
        res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" }).end(metricsText(this.model));
        return;
      case "/events": {
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" });
        res.write(`retry: 1000\nevent: charts\ndata: ${JSON.stringify(this.model.charts())}\n\n`);
        this.clients.add(res);
        req.on("close", () => this.clients.delete(res));
        return;
      }
      case "/favicon.ico":
        res.writeHead(204).end();
        return;
      default:
        res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    for (const c of this.clients) c.end();
    this.clients.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.options.onClose?.();
  }
}
