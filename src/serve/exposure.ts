/**
 * Who may talk to the service. Endpoints bind to loopback by default; a non-loopback bind
 * needs CURVE (ZeroMQ's authentication + encryption, RFC 26) or an explicit `--insecure`.
 *
 * CURVE here: the service holds a long-term key pair (`serve.curve.secret_key_file`); a client
 * must know the service's public key to complete the handshake, so a client without it gets
 * nothing. With `serve.curve.client_keys_file` (one Z85 public key per line) a ZAP handler
 * (RFC 27) also refuses every client key not listed.
 */
import fs from "node:fs";
import path from "node:path";
import * as zmq from "zeromq";
import { ConfigError } from "../util/errors.js";

/** Z85 (RFC 32) alphabet: CURVE keys travel as 40-character Z85 strings. */
const Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
const Z85_KEY = /^[0-9a-zA-Z.\-:+=^!/*?&<>()[\]{}@%$#]{40}$/;

export function z85Encode(bytes: Uint8Array): string {
  if (bytes.length % 4 !== 0) throw new RangeError(`Z85 needs a multiple of 4 bytes, got ${bytes.length}`);
  let out = "";
  for (let i = 0; i < bytes.length; i += 4) {
    let v = ((bytes[i] << 24) >>> 0) + (bytes[i + 1] << 16) + (bytes[i + 2] << 8) + bytes[i + 3];
    const chunk: string[] = [];
    for (let k = 0; k < 5; k++) {
      chunk.push(Z85[v % 85]);
      v = Math.floor(v / 85);
    }
    out += chunk.reverse().join("");
  }
  return out;
}

/** A Z85 CURVE key from a file (first non-blank, non-# line); errors name the config field. */
export function readKey(file: string, field: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new ConfigError(field, `cannot read the CURVE key file ${file}: ${(e as Error).message}`);
  }
  const key = keyLines(text)[0];
  if (key === undefined || !Z85_KEY.test(key)) {
    throw new ConfigError(field, `${file} must hold a 40-character Z85 CURVE key (make one with \`mixload keygen\`)`);
  }
  return key;
}

function keyLines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
}

/** Client public keys allowed in (one Z85 key per line). */
export function readKeyList(file: string, field: string): Set<string> {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new ConfigError(field, `cannot read ${file}: ${(e as Error).message}`);
  }
  const keys = keyLines(text);
  keys.forEach((k, i) => {
    if (!Z85_KEY.test(k)) throw new ConfigError(field, `${file}: entry ${i + 1} is not a 40-character Z85 public key`);
  });
  return new Set(keys);
}

/** Write `<name>.key` (secret, mode 0600) and `<name>.pub` into `dir`; returns their paths. */
export function writeKeyPair(dir: string, name: string): { secretFile: string; publicFile: string; publicKey: string } {
  fs.mkdirSync(dir, { recursive: true });
  const { publicKey, secretKey } = zmq.curveKeyPair();
  const secretFile = path.join(dir, `${name}.key`);
  const publicFile = path.join(dir, `${name}.pub`);
  fs.writeFileSync(secretFile, `# mixload CURVE secret key: keep private\n${secretKey}\n`, { mode: 0o600, flag: "wx" });
  fs.writeFileSync(publicFile, `${publicKey}\n`, { flag: "wx" });
  return { secretFile, publicFile, publicKey };
}

/**
 * Does `endpoint` only accept local peers? ipc:// and inproc:// do; tcp:// does when its host
 * is a loopback address (127.0.0.0/8, ::1, localhost). `tcp://*:5555`, 0.0.0.0 and interface
 * names do not.
 */
export function isLocalEndpoint(endpoint: string): boolean {
  const m = /^([a-z0-9+]+):\/\/(.*)$/i.exec(endpoint);
  if (m === null) return false;
  const transport = m[1].toLowerCase();
  if (transport === "ipc" || transport === "inproc") return true;
  if (transport !== "tcp" && transport !== "ws") return false;
  let host = m[2];
  const semi = host.indexOf(";"); // tcp://source;dest: the bind address is what matters here
  if (semi >= 0) host = host.slice(0, semi);
  const v6 = /^\[([^\]]*)\](?::.*)?$/.exec(host);
  host = v6 !== null ? v6[1] : host.replace(/:[^:]*$/, "");
  host = host.toLowerCase();
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export interface ExposureInput {
  control: string;
  weights: string;
  curve: boolean;
  insecure: boolean;
}

/**
 * Refuse a non-loopback bind without CURVE; with `insecure` allow it and return the warning
 * to print. Returns [] when there is nothing to say.
 */
export function checkExposure(x: ExposureInput): string[] {
  const open = [
    ["serve.control", x.control],
    ["serve.weights", x.weights],
  ].filter(([, ep]) => !isLocalEndpoint(ep));
  if (open.length === 0 || x.curve) return [];
  if (!x.insecure) {
    const [field, ep] = open[0];
    throw new ConfigError(
      field,
      `${ep} binds a non-loopback address; anyone who can reach it could read batches and steer the mixer. ` +
        "Give serve.curve keys (`mixload keygen`, then serve.curve.secret_key_file), bind 127.0.0.1, or pass --insecure to serve unauthenticated and unencrypted",
    );
  }
  return open.map(([field, ep]) => `--insecure: ${field} ${ep} accepts anyone who can reach it, unauthenticated and unencrypted`);
}

export interface CurveServerKeys {
  secretKey: string;
  /** Client public keys allowed in; undefined = any client that knows the service's public key. */
  clients?: Set<string>;
}

/** Make `socket` a CURVE server with this secret key. Call before bind. */
export function applyCurveServer(socket: zmq.Socket, keys: CurveServerKeys): void {
  socket.curveServer = true;
  socket.curveSecretKey = keys.secretKey;
  if (keys.clients !== undefined) socket.zapDomain = "mixload";
}

/**
 * A ZAP handler (RFC 27) on its own context: approves CURVE clients whose public key is listed.
 * Sockets of that context consult it during the handshake.
 */
export class ZapHandler {
  private readonly socket: zmq.Router;
  private loop: Promise<void> = Promise.resolve();

  private constructor(
    context: zmq.Context,
    private readonly allowed: Set<string>,
    private readonly onDeny: (key: string, address: string) => void,
  ) {
    this.socket = new zmq.Router({ context, linger: 0 });
  }

  static async start(context: zmq.Context, allowed: Set<string>, onDeny: (key: string, address: string) => void): Promise<ZapHandler> {
    const h = new ZapHandler(context, allowed, onDeny);
    await h.socket.bind("inproc://zeromq.zap.01");
    h.loop = h.run();
    return h;
  }

  private async run(): Promise<void> {
    for (;;) {
      let msg: Buffer[];
      try {
        msg = await this.socket.receive();
      } catch {
        return;
      }
      // [identity, "", version, request_id, domain, address, routing_id, mechanism, ...credentials]
      const [id, , version, requestId, , address, , mechanism, key] = msg;
      let status = "400";
      let text = "client key not allowed";
      if (version?.toString() !== "1.0") text = "unsupported ZAP version";
      else if (mechanism?.toString() !== "CURVE" || key === undefined || key.length !== 32) text = "CURVE required";
      else if (this.allowed.has(z85Encode(key))) {
        status = "200";
        text = "OK";
      }
      if (status !== "200") this.onDeny(key !== undefined && key.length === 32 ? z85Encode(key) : "(none)", address?.toString() ?? "?");
      await this.socket.send([id, "", "1.0", requestId ?? "", status, text, "", ""]).catch(() => {});
    }
  }

  async close(): Promise<void> {
    this.socket.close();
    await this.loop;
  }
}

export interface Security {
  curve?: CurveServerKeys;
  /** Warnings to print at start (`--insecure` on a non-loopback bind). */
  warnings: string[];
}

/** Read the CURVE keys of `serve.curve` (paths relative to `baseDir`) and check the binds. */
export function resolveSecurity(
  serve: { curve?: { secret_key_file: string; client_keys_file?: string } },
  baseDir: string,
  binds: { control: string; weights: string },
  insecure: boolean,
): Security {
  let curve: CurveServerKeys | undefined;
  if (serve.curve !== undefined) {
    const secretKey = readKey(path.resolve(baseDir, serve.curve.secret_key_file), "serve.curve.secret_key_file");
    const f = serve.curve.client_keys_file;
    curve = f === undefined ? { secretKey } : { secretKey, clients: readKeyList(path.resolve(baseDir, f), "serve.curve.client_keys_file") };
  }
  return { curve, warnings: checkExposure({ ...binds, curve: curve !== undefined, insecure }) };
}
