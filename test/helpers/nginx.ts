/**
 * A real nginx serving a directory on a free loopback port, for the remote-source tests: static
 * files with the ETag, Last-Modified, range and If-Match handling that production servers have.
 * Its own generated config and a temp prefix (pid, logs, temp dirs), in the foreground as a child
 * process, stopped by `stop()`. Missing nginx is a failure with the install command, never a skip.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

const NGINX = "/usr/sbin/nginx";

export interface Nginx {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  readonly root: string;
  stop(): Promise<void>;
}

export async function startNginx(root: string): Promise<Nginx> {
  if (!fs.existsSync(NGINX)) throw new Error(`${NGINX} not found: the remote-source tests need a real nginx; run apt-get install -y nginx`);
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), "mixload-nginx-"));
  // A port picked by the kernel can be taken between close and nginx's bind: try a few.
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const conf = path.join(prefix, "nginx.conf");
    fs.writeFileSync(conf, config(prefix, path.resolve(root), port));
    const child = spawn(NGINX, ["-p", prefix, "-c", conf, "-e", path.join(prefix, "error.log")], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    const ready = await Promise.race([waitForPort(port).then(() => true), exited.then(() => false)]);
    if (ready) return { url: `http://127.0.0.1:${port}`, port, root, stop: () => stop(child, exited, prefix) };
    const log = readIfExists(path.join(prefix, "error.log"));
    if (attempt < 3 && /Address already in use/.test(stderr + log)) continue;
    fs.rmSync(prefix, { recursive: true, force: true });
    throw new Error(`nginx did not start: ${(stderr + log).trim().split("\n").slice(-3).join(" | ")}`);
  }
}

function config(prefix: string, root: string, port: number): string {
  const tmp = (name: string) => `${name}_temp_path ${path.join(prefix, name)};`;
  return `
daemon off;
master_process off;
worker_processes 1;
${process.getuid?.() === 0 ? "user root;" : ""}
pid ${path.join(prefix, "nginx.pid")};
error_log ${path.join(prefix, "error.log")} warn;
events { worker_connections 512; }
http {
  access_log off;
  ${tmp("client_body")} ${tmp("proxy")} ${tmp("fastcgi")} ${tmp("uwsgi")} ${tmp("scgi")}
  default_type application/octet-stream;
  sendfile on;
  keepalive_timeout 65;
  keepalive_requests 100000;
  server {
    listen 127.0.0.1:${port};
    root ${root};
    location / { }
    # The same files from a server that ignores Range (answers 200 with the whole file).
    location /norange/ { alias ${root}/; max_ranges 0; }
  }
}
`;
}

async function stop(child: ChildProcess, exited: Promise<number | null>, prefix: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill("SIGTERM"); // fast shutdown of this one nginx process (our child, by pid)
    await exited;
  }
  fs.rmSync(prefix, { recursive: true, force: true });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => (s.destroy(), r(true)));
      s.once("error", () => r(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nginx did not listen on port ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function readIfExists(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return "";
  }
}
