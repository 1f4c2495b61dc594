/**
 * A fault-injecting HTTP proxy for the remote-source tests, placed between the client and a real
 * server (nginx): it forwards every request unchanged, except that it can answer 503, cut the
 * connection halfway through the body (a TCP reset), or hold the response longer than the client's
 * timeout. The server behind it is real; only the failures are made up, and on demand.
 */
import * as http from "node:http";
import type * as net from "node:net";

export type Fault =
  /** No fault: forward this one (to aim the next fault at a later request). */
  | { readonly kind: "pass" }
  | { readonly kind: "status"; readonly status: number }
  /** Send the headers and half the body, then reset the connection. */
  | { readonly kind: "reset-mid-body" }
  /** Wait this long before forwarding. */
  | { readonly kind: "delay"; readonly ms: number };

export interface ProxiedRequest {
  readonly method: string;
  readonly path: string;
  readonly range?: string;
  readonly fault?: Fault["kind"];
}

export class FaultProxy {
  /** Every request seen, in arrival order. */
  readonly requests: ProxiedRequest[] = [];
  private readonly queue: Fault[] = [];
  private always: Fault | undefined;
  private readonly upstreamAgent = new http.Agent({ keepAlive: true });
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: http.Server,
    private readonly upstream: URL,
  ) {}

  /** A proxy on a free loopback port in front of `upstream` (e.g. nginx's url). */
  static async start(upstream: string): Promise<FaultProxy & { readonly url: string }> {
    const server = http.createServer();
    const proxy = new FaultProxy(server, new URL(upstream));
    // An upstream failure is not an injected fault: it shows as a 502 the test will notice.
    server.on("request", (req, res) => {
      void proxy.handle(req, res).catch((e: Error) => res.writeHead(502).end(`proxy: ${e.message}\n`));
    });
    server.on("connection", (s) => {
      proxy.sockets.add(s);
      s.once("close", () => proxy.sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as net.AddressInfo;
    return Object.assign(proxy, { url: `http://127.0.0.1:${port}` });
  }

  /** The next requests (one fault each, in order) fail this way. */
  inject(...faults: Fault[]): void {
    this.queue.push(...faults);
  }

  /** Every request fails this way until `heal()`. */
  failAlways(fault: Fault): void {
    this.always = fault;
  }

  heal(): void {
    this.always = undefined;
    this.queue.length = 0;
  }

  faultsInjected(): number {
    return this.requests.filter((r) => r.fault !== undefined).length;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.upstreamAgent.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const next = this.always ?? this.queue.shift();
    const fault = next?.kind === "pass" ? undefined : next;
    this.requests.push({ method: req.method ?? "GET", path: req.url ?? "/", range: req.headers.range, fault: fault?.kind });
    if (fault?.kind === "status") {
      res.writeHead(fault.status, { "content-type": "text/plain" }).end(`injected ${fault.status}\n`);
      return;
    }
    if (fault?.kind === "delay") await new Promise((r) => setTimeout(r, fault.ms));
    if (res.destroyed || req.socket.destroyed) return; // the client gave up while we waited
    const up = await this.forward(req);
    if (fault?.kind === "reset-mid-body") {
      res.writeHead(up.status, up.headers);
      res.write(up.body.subarray(0, up.body.length >> 1), () => req.socket.resetAndDestroy());
      return;
    }
    res.writeHead(up.status, up.headers).end(up.body);
  }

  /** The upstream's whole response (test files are small). */
  private forward(req: http.IncomingMessage): Promise<{ status: number; headers: http.OutgoingHttpHeaders; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const headers = { ...req.headers, host: this.upstream.host };
      const up = http.request(
        { host: this.upstream.hostname, port: this.upstream.port, method: req.method, path: req.url, headers, agent: this.upstreamAgent },
        (r) => {
          const chunks: Buffer[] = [];
          r.on("data", (c: Buffer) => chunks.push(c));
          r.on("end", () => resolve({ status: r.statusCode ?? 502, headers: r.headers, body: Buffer.concat(chunks) }));
          r.on("error", reject);
        },
      );
      up.on("error", reject);
      up.end();
    });
  }
}
