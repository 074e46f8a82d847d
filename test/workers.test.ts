import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { computeSessionKeys } from "../sp-runtime/crypto/session.ts";
import { saveIdentityFile } from "../sp-runtime/identity/identity-file.ts";
import {
  ARM_HEADER_LEN,
  HEADER_LEN,
  MAX_TCP_FRAME,
  MAX_UDP4_PAYLOAD,
  MessageType,
  OFF_TYPE,
} from "../sp-runtime/wire/constants.ts";
import { openPacket, buildPacket } from "../sp-runtime/wire/packet.ts";
import { nodeRuntime } from "../stacks/install/node-runtime.ts";
import { superPeerBundle } from "../stacks/package-files.ts";
import { spawnProcess, type Spawned } from "./support/process.ts";
import { RawClient, RawTcpClient, vectorIdentity } from "./support/super-peer.ts";

/*
 * DRASYL_WORKERS with real sockets: the bundle under the Node it ships (dgram reusePort), two UDP
 * workers on one port. Which worker gets a datagram is the kernel's choice (a hash of the source),
 * so each test moves a client to new source ports until drasyl_sp_worker_packets_total shows its
 * HELLO on the worker the test needs.
 */

const dir = mkdtempSync(join(tmpdir(), "drasyl-workers-"));
const spIdentity = vectorIdentity("id_1");
const idFile = join(dir, "sp.identity");
saveIdentityFile(idFile, spIdentity);
let node24 = "";
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  node24 = await nodeRuntime(process.arch === "arm64" ? "arm64" : "x64");
}, 300_000);
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function freeTcpPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

interface Daemon {
  proc: Spawned;
  udp: number;
  tcp: number;
  metrics(): Promise<string>;
}

/** The bundle under `cmd` (a Node, or e.g. taskset with `args` ending in a Node). */
async function daemon(cmd: string, args: string[], extra: Record<string, string>): Promise<Daemon> {
  const prometheus = await freeTcpPort();
  const proc = spawnProcess(cmd, [...args, superPeerBundle()], {
    PATH: process.env.PATH,
    DRASYL_IDENTITY_FILE: idFile,
    DRASYL_IDENTITY_REQUIRED: "true",
    DRASYL_UDP4_LISTEN: "127.0.0.1:0",
    DRASYL_UDP6_LISTEN: "",
    DRASYL_TCP4_LISTEN: "127.0.0.1:0",
    DRASYL_TCP6_LISTEN: "",
    DRASYL_PROMETHEUS_LISTEN: `127.0.0.1:${prometheus}`,
    DRASYL_PEERS_PRINT_INTERVAL: "0",
    RUST_LOG: "info",
    ...extra,
  });
  cleanups.push(() => proc.stop());
  await proc.waitForStderr(/msg="super peer started"/);
  // Wildcard listeners print the interface addresses, which a test machine may not have: then the configured port.
  const m = /udp:\/\/127\.0\.0\.1:(\d+)\?publicKey=[0-9a-f]{64}&networkId=1&tcpPort=(\d+)/.exec(proc.stdout());
  const configured = Number(/:(\d+)$/.exec(extra.DRASYL_UDP4_LISTEN ?? "")?.[1]);
  return {
    proc,
    udp: m ? Number(m[1]) : configured,
    tcp: m ? Number(m[2]) : 0,
    metrics: async () => (await fetch(`http://127.0.0.1:${prometheus}/metrics`)).text(),
  };
}

function metric(text: string, name: string, labels = ""): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
}

async function workerPackets(d: Daemon): Promise<number[]> {
  const text = await d.metrics();
  return [0, 1].map((w) => metric(text, "drasyl_sp_worker_packets_total", `{worker="${w}"}`));
}

async function client(name: "id_2" | "id_3"): Promise<RawClient> {
  const c = await RawClient.open(vectorIdentity(name), spIdentity);
  cleanups.push(() => c.close());
  return c;
}

/** Sends `pkt` from `c` and returns the worker whose packet counter it raised. */
async function sendAndLocate(d: Daemon, c: RawClient, pkt: Uint8Array): Promise<number> {
  const before = await workerPackets(d);
  c.send(pkt, d.udp);
  let worker = -1;
  for (let i = 0; i < 100 && worker < 0; i++) {
    const after = await workerPackets(d);
    worker = after.findIndex((n, w) => n > (before[w] as number));
    if (worker < 0) await new Promise((r) => setTimeout(r, 20));
  }
  expect(worker).toBeGreaterThanOrEqual(0);
  return worker;
}

/** A client of `name` whose HELLO the daemon handled on `want` (or on any worker but `avoid`). */
async function clientOn(
  d: Daemon,
  name: "id_2" | "id_3",
  want: { worker?: number; avoid?: number },
  expectAck = true,
): Promise<{ c: RawClient; worker: number }> {
  for (let attempt = 0; attempt < 40; attempt++) {
    const c = await client(name);
    const worker = await sendAndLocate(d, c, c.hello(spIdentity.publicKey));
    const reply = await c.receive(expectAck ? 2000 : 300);
    expect(reply !== undefined).toBe(expectAck);
    if ((want.worker === undefined || worker === want.worker) && worker !== want.avoid) return { c, worker };
  }
  throw new Error(`no source port of ${name} reached the wanted worker in 40 tries`);
}

/** An armed APP from `from` to `to` of `size` bytes on the wire. */
function app(from: RawClient, to: RawClient, size = 200): Uint8Array {
  const payload = Buffer.alloc(size - HEADER_LEN - ARM_HEADER_LEN, 0x5a);
  const e2e = computeSessionKeys(from.identity.xPublic, from.identity.xSecret, to.identity.xPublic);
  return buildPacket(from.header(to.identity.publicKey, MessageType.App), payload, { txKey: e2e.tx });
}

/** The next relayed APP for `c` (skipping anything else), or undefined. */
async function nextApp(c: RawClient, ms = 2000): Promise<Buffer | undefined> {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = await c.receive(Math.max(0, deadline - Date.now()));
    if (m === undefined || m[OFF_TYPE] === MessageType.App) return m;
  }
}

function expectRelayed(got: Uint8Array | undefined, sent: Uint8Array): void {
  expect(got?.length).toBe(sent.length);
  expect(got?.[4]).toBe(1);
  expect(Buffer.from(got?.subarray(5) ?? []).equals(Buffer.from(sent.subarray(5)))).toBe(true);
}

async function unitesFor(c: RawClient): Promise<number> {
  let n = 0;
  for (let m = await c.receive(500); m; m = await c.receive(200)) {
    const o = openPacket(m, c.session.rx);
    if (o.ok && o.value.header.type === MessageType.Unite) n++;
  }
  return n;
}

describe("DRASYL_WORKERS=2 under the shipped Node (SO_REUSEPORT)", () => {
  it("starts two workers on one port and relays APPs both ways between peers on different workers", async () => {
    const d = await daemon(node24, [], { DRASYL_WORKERS: "2", DRASYL_SEND_UNITES: "-1" });
    await d.proc.waitForStderr(/msg="super peer started".* workers=2/);
    const a = await clientOn(d, "id_2", {});
    const b = await clientOn(d, "id_3", { avoid: a.worker });
    expect(new Set([a.worker, b.worker])).toEqual(new Set([0, 1]));

    const ab = app(a.c, b.c);
    a.c.send(ab, d.udp);
    expectRelayed(await nextApp(b.c), ab);
    const ba = app(b.c, a.c);
    b.c.send(ba, d.udp);
    expectRelayed(await nextApp(a.c), ba);

    const text = await d.metrics();
    expect(metric(text, "drasyl_sp_messages_total", '{type="app",direction="tx"}')).toBe(2);
    expect(metric(text, "drasyl_sp_peers")).toBe(2);
    expect(await d.proc.stop()).toBe(0);
    expect(d.proc.stderr()).toContain("shutting down");
  });

  it("holds the UNITE rate limit across workers: the reverse relay on the other worker unites nobody again", async () => {
    const d = await daemon(node24, [], { DRASYL_WORKERS: "2", DRASYL_SEND_UNITES: "60000" });
    const a = await clientOn(d, "id_2", {});
    const b = await clientOn(d, "id_3", { avoid: a.worker });
    a.c.send(app(a.c, b.c), d.udp);
    expect(await unitesFor(a.c)).toBe(1);
    b.c.send(app(b.c, a.c), d.udp);
    b.c.send(app(b.c, a.c), d.udp);
    // b's APPs were handled by b's worker, which is not the one that sent the UNITEs.
    expect(await unitesFor(b.c)).toBe(1);
    expect(await unitesFor(a.c)).toBe(0);
    const text = await d.metrics();
    expect(metric(text, "drasyl_sp_messages_total", '{type="app",direction="tx"}')).toBe(3);
    expect(metric(text, "drasyl_sp_messages_total", '{type="unite",direction="tx"}')).toBe(2);
  });

  it("holds DRASYL_MAX_PEERS across workers", async () => {
    const d = await daemon(node24, [], { DRASYL_WORKERS: "2", DRASYL_MAX_PEERS: "1" });
    const a = await clientOn(d, "id_2", {});
    // Every HELLO of the second peer is refused, on a's worker and on the other one.
    await clientOn(d, "id_3", { avoid: a.worker }, false);
    const text = await d.metrics();
    expect(metric(text, "drasyl_sp_peers")).toBe(1);
    expect(metric(text, "drasyl_sp_dropped_packets_total", '{reason="capacity_exceeded"}')).toBeGreaterThanOrEqual(1);
    a.c.send(a.c.hello(spIdentity.publicKey), d.udp);
    expect(await a.c.receive(2000)).toBeDefined();
  });

  it("relays between a TCP peer (main thread) and a UDP peer on the other worker, up to the largest datagram, and TCP to TCP up to 65535 bytes", async () => {
    const d = await daemon(node24, [], { DRASYL_WORKERS: "2", DRASYL_SEND_UNITES: "-1" });
    const a = await client("id_2");
    const aTcp = await RawTcpClient.connect(d.tcp);
    cleanups.push(() => aTcp.close());
    aTcp.send(a.hello(spIdentity.publicKey));
    expect(await aTcp.waitFor(() => aTcp.frames.length === 1)).toBe(true);
    // TCP is served by the main thread, worker 0.
    const b = await clientOn(d, "id_3", { worker: 1 });

    for (const size of [200, 1927, MAX_UDP4_PAYLOAD]) {
      const toB = app(a, b.c, size);
      aTcp.send(toB);
      expectRelayed(await nextApp(b.c, 3000), toB);
      const toA = app(b.c, a, size);
      const frames = aTcp.frames.length;
      b.c.send(toA, d.udp);
      expect(await aTcp.waitFor(() => aTcp.frames.length === frames + 1, 3000)).toBe(true);
      expectRelayed(aTcp.frames[frames], toA);
    }

    const c = await client("id_3");
    const cTcp = await RawTcpClient.connect(d.tcp);
    cleanups.push(() => cTcp.close());
    cTcp.send(c.hello(spIdentity.publicKey));
    expect(await cTcp.waitFor(() => cTcp.frames.length === 1)).toBe(true);
    const big = app(a, c, MAX_TCP_FRAME);
    aTcp.send(big);
    expect(await cTcp.waitFor(() => cTcp.frames.length === 2, 3000)).toBe(true);
    expectRelayed(cTcp.frames[1], big);
  });
});

describe("one peer over both transports at once (what the health probe does)", () => {
  it("answers a HELLO over UDP on worker 1 and one over TCP on the main thread each on its own transport", async () => {
    const d = await daemon(node24, [], { DRASYL_WORKERS: "2" });
    const b = await clientOn(d, "id_3", { worker: 1 });
    const tcp = await RawTcpClient.connect(d.tcp);
    cleanups.push(() => tcp.close());
    // Each HELLO rewrites the peer's recorded source; an ACK sent there rather than back where its HELLO came from goes astray.
    for (let round = 0; round < 200; round++) {
      const frames = tcp.frames.length;
      b.c.send(b.c.hello(spIdentity.publicKey), d.udp);
      tcp.send(b.c.hello(spIdentity.publicKey));
      expect(await b.c.receive(2000), `round ${round}: UDP ACK`).toBeDefined();
      expect(await tcp.waitFor(() => tcp.frames.length === frames + 1), `round ${round}: TCP ACK`).toBe(true);
      expect(tcp.frames.length, `round ${round}`).toBe(frames + 1);
    }
    const packets = await workerPackets(d);
    expect(packets[1]).toBeGreaterThanOrEqual(200);
  });
});

describe("DRASYL_WORKERS=2 on wildcard IPv4 and IPv6 listeners", () => {
  it("answers both families and relays between an IPv4 and an IPv6 peer", async () => {
    const port = await freeTcpPort();
    const d = await daemon(node24, [], {
      DRASYL_WORKERS: "2",
      DRASYL_SEND_UNITES: "-1",
      DRASYL_UDP4_LISTEN: `0.0.0.0:${port}`,
      DRASYL_UDP6_LISTEN: `[::]:${port}`,
    });
    const a = await clientOn(d, "id_2", {});
    const b6 = await RawClient.open(vectorIdentity("id_3"), spIdentity, 6);
    cleanups.push(() => b6.close());
    b6.send(b6.hello(spIdentity.publicKey), port, "::1");
    expect(await b6.receive(2000)).toBeDefined();
    const ab = app(a.c, b6);
    a.c.send(ab, port);
    expectRelayed(await nextApp(b6), ab);
    const ba = app(b6, a.c);
    b6.send(ba, port, "::1");
    expectRelayed(await nextApp(a.c), ba);
  });
});

describe("DRASYL_WORKERS unset", () => {
  it("runs one worker per CPU the process may use: one under taskset -c 0, every core otherwise", async () => {
    const pinned = await daemon("taskset", ["-c", "0", node24], {});
    await pinned.proc.waitForStderr(/msg="super peer started".* workers=1/);
    expect(pinned.proc.stderr()).not.toContain("instead of");
    const all = await daemon(node24, [], {});
    await all.proc.waitForStderr(new RegExp(`msg="super peer started".* workers=${availableParallelism()}`));
  });
});

describe("DRASYL_WORKERS on a Node without dgram reusePort", () => {
  it.skipIf(Number(process.versions.node.split(".")[0]) >= 22)(
    `falls back to one worker under Node ${process.version}, says so once, and serves`,
    async () => {
      const d = await daemon(process.execPath, [], { DRASYL_WORKERS: "2" });
      const lines = d.proc.stderr().split("\n");
      expect(lines.filter((l) => l.includes("running 1 worker instead of 2"))).toHaveLength(1);
      expect(d.proc.stderr()).toMatch(/level=warn msg="running 1 worker instead of 2: Node v\d+/);
      await d.proc.waitForStderr(/msg="super peer started".* workers=1/);
      const a = await client("id_2");
      a.send(a.hello(spIdentity.publicKey), d.udp);
      expect(await a.receive(2000)).toBeDefined();
      expect(await d.proc.stop()).toBe(0);
    },
  );
});
