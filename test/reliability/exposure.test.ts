/**
 * Exposure: loopback by default; a non-loopback bind needs CURVE keys or `--insecure` (with a
 * warning); a client without the service's key — or, with an allow-list, without a listed key
 * — gets nothing; requests above `serve.max_message_bytes` are dropped unread.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import * as zmq from "zeromq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MixloadClient, WeightsSubscriber, type CurveClientKeys } from "../../src/client/client.js";
import { loadConfig } from "../../src/config/load.js";
import { serveSchema } from "../../src/config/schema.js";
import { decodeHeader, encodeHeader } from "../../src/protocol/index.js";
import { isLocalEndpoint, writeKeyPair } from "../../src/serve/exposure.js";
import { MixloadService, type ProgressEvent } from "../../src/serve/service.js";
import { ConfigError } from "../../src/util/errors.js";
import { CLI, codeOf, feedbackFor, tempDir, writeConfig, writeCorpus, type Corpus } from "./harness.js";

const dir = tempDir();
let corpus: Corpus;
const open: MixloadService[] = [];
const clients: { close(): void }[] = [];

beforeAll(() => {
  corpus = writeCorpus(dir, [30, 20, 25], 200);
});

afterAll(async () => {
  for (const c of clients) c.close();
  for (const s of open) await s.close({ writeState: false });
});

async function start(name: string, serve: Record<string, unknown>, insecure = false): Promise<{ service: MixloadService; events: ProgressEvent[] }> {
  const events: ProgressEvent[] = [];
  const service = await MixloadService.open(loadConfig(writeConfig(dir, corpus, name, {}, serve)), { insecure }, (e) => events.push(e));
  open.push(service);
  return { service, events };
}

function client(endpoint: string, curve?: CurveClientKeys, timeoutMs = 20_000): MixloadClient {
  const c = new MixloadClient({ endpoint, timeoutMs, retries: 0, notReadyWaitMs: 10_000, curve });
  clients.push(c);
  return c;
}

/**
 * Send on a raw DEALER and wait for a reply that should never come. Rejects with EAGAIN: from
 * the socket timeouts, or from closing the socket 2 s later if libzmq sits in a state those do
 * not cover (a hang would otherwise eat the whole test timeout).
 */
function noReply(d: zmq.Dealer, frames: (Buffer | string)[]): Promise<unknown> {
  const watchdog = setTimeout(() => d.close(), 2000);
  return d
    .send(frames)
    .then(() => d.receive())
    .finally(() => clearTimeout(watchdog));
}

describe("binding", () => {
  it("loopback, ipc and inproc are local; wildcards, 0.0.0.0, other hosts and interfaces are not", () => {
    for (const ep of [
      "tcp://127.0.0.1:5555",
      "tcp://127.0.0.2:1",
      "tcp://localhost:5555",
      "tcp://[::1]:5555",
      "tcp://127.0.0.1:*",
      "ipc:///tmp/x.sock",
      "inproc://x",
    ]) {
      expect(isLocalEndpoint(ep), ep).toBe(true);
    }
    for (const ep of [
      "tcp://*:5555",
      "tcp://0.0.0.0:5555",
      "tcp://[::]:5555",
      "tcp://10.0.0.5:5555",
      "tcp://eth0:5555",
      "tcp://example.org:5555",
      "tcp://128.0.0.1:1",
      "nonsense",
    ]) {
      expect(isLocalEndpoint(ep), ep).toBe(false);
    }
  });

  it("the defaults are loopback", () => {
    const s = serveSchema.parse({});
    expect(isLocalEndpoint(s.control) && isLocalEndpoint(s.weights)).toBe(true);
    expect(s.max_message_bytes).toBe(16 * 2 ** 20);
  });

  it("a non-loopback bind without CURVE is refused, naming the field and the ways out", async () => {
    const e = await MixloadService.open(loadConfig(writeConfig(dir, corpus, "open", {}, { control: "tcp://0.0.0.0:*" }))).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as Error).message).toMatch(/^config serve\.control: tcp:\/\/0\.0\.0\.0:\* binds a non-loopback address.*serve\.curve.*--insecure/);
  });

  it("`mixload serve` says the same and exits 1 (no stack trace)", async () => {
    const config = writeConfig(dir, corpus, "open-cli", {}, { weights: "tcp://*:0" });
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) =>
      execFile(process.execPath, [CLI, "serve", "--config", config], (err, _o, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
      ),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^mixload: config serve\.weights: tcp:\/\/\*:0 binds a non-loopback address/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  }, 60_000);

  it("--insecure binds anyway and warns", async () => {
    const { service, events } = await start("insecure", { control: "tcp://0.0.0.0:*", weights: "tcp://127.0.0.1:*" }, true);
    expect(events.some((e) => e.event === "warning" && /--insecure: serve\.control tcp:\/\/0\.0\.0\.0:\* accepts anyone/.test(e.message ?? ""))).toBe(true);
    const port = service.controlEndpoint.split(":").pop();
    expect((await client(`tcp://127.0.0.1:${port}`).hello(0, 2)).world).toBe(2);
  });
});

describe("CURVE", () => {
  const keys = path.join(dir, "keys");
  let serverPub: string;
  let service: MixloadService;
  let events: ProgressEvent[];
  let port: string;

  beforeAll(async () => {
    serverPub = writeKeyPair(keys, "service").publicKey;
    ({ service, events } = await start("curve", {
      control: "tcp://0.0.0.0:*",
      weights: "tcp://0.0.0.0:*",
      curve: { secret_key_file: path.join(keys, "service.key") },
    }));
    port = service.controlEndpoint.split(":").pop() as string;
  });

  it("binds non-loopback with keys; a client with the service's public key is served, encrypted", async () => {
    expect(events.some((e) => e.event === "warning")).toBe(false);
    const c = client(`tcp://127.0.0.1:${port}`, { serverKey: serverPub });
    const hello = await c.hello(0, 2);
    expect(hello.domains).toEqual(["alpha", "beta", "gamma"]);
    const b = await c.batch(0, 0);
    expect(b.input_ids.length).toBe(2 * 128);
  });

  it("a client without the key, or with the wrong one, gets nothing (a timeout, never a hang)", async () => {
    expect(await codeOf(client(`tcp://127.0.0.1:${port}`, undefined, 1500).hello(0, 2))).toBe("timeout");
    const wrong = zmq.curveKeyPair().publicKey;
    expect(await codeOf(client(`tcp://127.0.0.1:${port}`, { serverKey: wrong }, 1500).hello(0, 2))).toBe("timeout");
    // A plain DEALER speaking raw frames: no reply either. (Its send may itself time out: libzmq
    // can drop the pipe of a refused handshake, and then there is nowhere to queue the request.)
    const d = new zmq.Dealer({ linger: 0, receiveTimeout: 1500, sendTimeout: 1500 });
    clients.push(d);
    d.connect(`tcp://127.0.0.1:${port}`);
    await expect(noReply(d, ["", encodeHeader({ v: 1, op: "stats" })])).rejects.toMatchObject({ code: "EAGAIN" });
  });

  it("the weights topic is CURVE too: only a keyed subscriber hears a change", async () => {
    const wport = service.weightsEndpoint.split(":").pop();
    const keyed = new WeightsSubscriber(`tcp://127.0.0.1:${wport}`, { curve: { serverKey: serverPub } });
    const plain = new WeightsSubscriber(`tcp://127.0.0.1:${wport}`);
    clients.push(keyed, plain);
    const heard = { keyed: 0, plain: 0 };
    void (async () => {
      for await (const _ of keyed) heard.keyed += 1;
    })();
    void (async () => {
      for await (const _ of plain) heard.plain += 1;
    })();
    await new Promise((r) => setTimeout(r, 500)); // let the subscriptions settle
    const c = client(`tcp://127.0.0.1:${port}`, { serverKey: serverPub });
    for (let s = 0; s < 2; s++) {
      const got = [await c.batch(s, 0), await c.batch(s, 1)];
      for (const x of got) await c.feedback(feedbackFor(x));
    }
    const end = Date.now() + 5000;
    while (heard.keyed < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    expect(heard.keyed).toBeGreaterThanOrEqual(1);
    expect(heard.plain).toBe(0);
  });

  it("with client_keys_file, only listed client keys get in; the refusal is logged", async () => {
    const listed = zmq.curveKeyPair();
    const other = zmq.curveKeyPair();
    fs.writeFileSync(path.join(keys, "clients.txt"), `# trainers\n${listed.publicKey}\n`);
    const { service: s2, events: ev2 } = await start("allow", {
      control: "tcp://0.0.0.0:*",
      weights: "tcp://127.0.0.1:*",
      curve: { secret_key_file: path.join(keys, "service.key"), client_keys_file: path.join(keys, "clients.txt") },
    });
    const p2 = s2.controlEndpoint.split(":").pop();
    expect((await client(`tcp://127.0.0.1:${p2}`, { serverKey: serverPub, ...listed }).hello(0, 2)).world).toBe(2);
    expect(await codeOf(client(`tcp://127.0.0.1:${p2}`, { serverKey: serverPub, ...other }, 1500).hello(0, 2))).toBe("timeout");
    expect(ev2.some((e) => e.event === "warning" && e.message?.includes(`key ${other.publicKey} is not in serve.curve.client_keys_file`))).toBe(true);
  });

  it("bad key files are refused naming the field", async () => {
    fs.writeFileSync(path.join(keys, "bad.key"), "not a key\n");
    for (const [curve, field] of [
      [{ secret_key_file: path.join(keys, "bad.key") }, "serve.curve.secret_key_file"],
      [{ secret_key_file: path.join(keys, "missing.key") }, "serve.curve.secret_key_file"],
      [{ secret_key_file: path.join(keys, "service.key"), client_keys_file: path.join(keys, "bad.key") }, "serve.curve.client_keys_file"],
    ] as const) {
      const e = await MixloadService.open(loadConfig(writeConfig(dir, corpus, "badkey", {}, { curve }))).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).path).toBe(field);
    }
  });
});

describe("max_message_bytes (ZMQ_MAXMSGSIZE)", () => {
  it("a request above the cap is dropped unread; the service keeps serving everyone else", async () => {
    const { service } = await start("maxmsg", { max_message_bytes: 1 << 20 });
    const d = new zmq.Dealer({ linger: 0, receiveTimeout: 1500, sendTimeout: 1500 });
    clients.push(d);
    d.connect(service.controlEndpoint);
    // Under the cap: an undeclared frame gets its bad_request.
    await d.send(["", encodeHeader({ v: 1, op: "stats" }), Buffer.alloc(512 << 10)]);
    const small = await d.receive();
    expect((decodeHeader(small[1]).error as { code: string }).code).toBe("bad_request");
    // Over the cap: the connection is dropped, nothing comes back, nothing was parsed.
    await expect(noReply(d, ["", encodeHeader({ v: 1, op: "stats" }), Buffer.alloc(2 << 20)])).rejects.toMatchObject({ code: "EAGAIN" });
    // Everyone else is served, and so is the same peer on a fresh connection.
    const c = client(service.controlEndpoint);
    expect((await c.stats()).ok).toBe(true);
    expect((await c.hello(1, 2)).world).toBe(2);
  });
});
