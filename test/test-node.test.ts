import { createSocket, type RemoteInfo, type Socket as UdpSocket } from "node:dgram";
import { once } from "node:events";
import { createServer, type AddressInfo, type Server, type Socket as TcpSocket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ed25519PublicToX25519 } from "../sp-runtime/crypto/keys.ts";
import { computeSessionKeys } from "../sp-runtime/crypto/session.ts";
import { generateIdentity, Identity } from "../sp-runtime/identity/identity.ts";
import {
  formatSuperPeerUrl,
  parseSuperPeerList,
  parseSuperPeerUrl,
  SuperPeerUrlError,
} from "../sp-runtime/node/super-peer-url.ts";
import { type AppEvent, type DrasylNodeOptions, DrasylNode, type UniteEvent } from "../sp-runtime/node/test-node.ts";
import { MessageType, MTU } from "../sp-runtime/wire/constants.ts";
import type { Endpoint } from "../sp-runtime/wire/endpoints.ts";
import { type LongHeader, parseHeader } from "../sp-runtime/wire/header.ts";
import { encodeAck, encodeHelloNodePeer, encodeUnite, nowMicros } from "../sp-runtime/wire/messages.ts";
import { buildPacket, decodeMessage, type Message, openPacket } from "../sp-runtime/wire/packet.ts";
import { bytesToHex, hexToBytes } from "../sp-runtime/util/hex.ts";
import { drasyl } from "./support/vectors.ts";

const PK = "5b4578909bf0ad3565bb5faf843a9f68b325dd87451f6cb747e49d82f6ce5f4c";
const PK2 = "bf3572dba7ebb6c5ccd037f3a978707b5d7c5a9b9b01b56b4b9bf059af56a4e0";

function vectorIdentity(name: string): Identity {
  const v = drasyl.identities[name];
  if (!v) throw new Error(`no identity ${name}`);
  return new Identity(hexToBytes(v.secretKey), v.proofOfWork ?? 0);
}
const ID1 = vectorIdentity("id_1");
const ID2 = vectorIdentity("id_2");
const ID3 = vectorIdentity("id_3");

function urlError(f: () => unknown): SuperPeerUrlError {
  try {
    f();
  } catch (e) {
    if (e instanceof SuperPeerUrlError) return e;
    throw e;
  }
  throw new Error("expected a SuperPeerUrlError");
}

describe("super peer URLs", () => {
  it("parses a DNS address with Rust's defaults", () => {
    const u = parseSuperPeerUrl(`udp://sp-rjl1.drasyl.org:22527?publicKey=${PK}`);
    expect(u).toMatchObject({
      addr: "sp-rjl1.drasyl.org:22527",
      host: "sp-rjl1.drasyl.org",
      port: 22527,
      networkId: 1,
      tcpPort: 443,
    });
    expect(bytesToHex(u.publicKey)).toBe(PK);
    expect(formatSuperPeerUrl(u)).toBe(`udp://sp-rjl1.drasyl.org:22527?publicKey=${PK}&networkId=1&tcpPort=443`);
  });

  it("reads networkId and tcpPort, in any order, with upper-case hex", () => {
    const u = parseSuperPeerUrl(`udp://192.0.2.7:22527?tcpPort=8443&networkId=-42&publicKey=${PK.toUpperCase()}`);
    expect(u).toMatchObject({ host: "192.0.2.7", port: 22527, networkId: -42, tcpPort: 8443 });
    expect(bytesToHex(u.publicKey)).toBe(PK);
    expect(parseSuperPeerUrl(`udp://h:1?publicKey=${PK}&networkId=+7&tcpPort=+80`)).toMatchObject({
      networkId: 7,
      tcpPort: 80,
    });
  });

  it("handles IPv6 literals in brackets, for UDP and TCP", () => {
    const u = parseSuperPeerUrl(`udp://[2001:db8::1]:22527?publicKey=${PK}&networkId=1&tcpPort=8443`);
    expect(u).toMatchObject({ addr: "[2001:db8::1]:22527", host: "2001:db8::1", port: 22527, tcpPort: 8443 });
    expect(formatSuperPeerUrl(u)).toBe(`udp://[2001:db8::1]:22527?publicKey=${PK}&networkId=1&tcpPort=8443`);
    expect(formatSuperPeerUrl({ host: "::1", port: 5, tcpPort: 6, networkId: 2, publicKey: hexToBytes(PK) })).toBe(
      `udp://[::1]:5?publicKey=${PK}&networkId=2&tcpPort=6`,
    );
  });

  it("ignores unparsable values and unknown keys like Rust", () => {
    for (const q of [
      "networkId=abc",
      "networkId=2147483648",
      "networkId=",
      "networkId= 3",
      "tcpPort=70000",
      "tcpPort=-1",
      "tcpPort=x",
      "foo=bar",
      "novalue",
    ]) {
      const u = parseSuperPeerUrl(`udp://h:1?publicKey=${PK}&${q}`);
      expect(u, q).toMatchObject({ networkId: 1, tcpPort: 443 });
    }
    // An ignored value keeps the one before it.
    expect(parseSuperPeerUrl(`udp://h:1?publicKey=${PK}&networkId=5&networkId=x`).networkId).toBe(5);
  });

  it("names the problem in typed errors", () => {
    expect(urlError(() => parseSuperPeerUrl(`tcp://h:1?publicKey=${PK}`)).code).toBe("invalid_url");
    expect(urlError(() => parseSuperPeerUrl("udp://h:1")).code).toBe("no_addr");
    expect(urlError(() => parseSuperPeerUrl("udp://h:1?networkId=1")).code).toBe("no_public_key");
    const badHex = urlError(() => parseSuperPeerUrl(`udp://h:1?publicKey=${PK.slice(2)}zz`));
    expect(badHex.code).toBe("invalid_public_key");
    expect(badHex.message).toMatch(/publicKey/);
    expect(urlError(() => parseSuperPeerUrl(`udp://h:1?publicKey=${PK.slice(2)}`)).code).toBe("invalid_public_key");
    const unbracketed = urlError(() => parseSuperPeerUrl(`udp://2001:db8::1:22527?publicKey=${PK}`));
    expect(unbracketed.code).toBe("invalid_addr");
    expect(unbracketed.message).toMatch(/brackets/);
    for (const addr of ["h", "h:", "h:0", "h:65536", ":22527", "[::1]", "[::1]22527", "[nothost]:1", "[::1:1"]) {
      expect(urlError(() => parseSuperPeerUrl(`udp://${addr}?publicKey=${PK}`)).code, addr).toBe("invalid_addr");
    }
  });

  it("splits lists on whitespace and commas", () => {
    const text = ` udp://a:1?publicKey=${PK}&networkId=9,udp://[::1]:2?publicKey=${PK2}&networkId=9\n\tudp://c:3?publicKey=${PK}&networkId=9 , `;
    const list = parseSuperPeerList(text);
    expect(list.networkId).toBe(9);
    expect(list.superPeers.map((s) => [s.host, s.port])).toEqual([
      ["a", 1],
      ["::1", 2],
      ["c", 3],
    ]);
  });

  it("requires one shared network id and at least one entry", () => {
    const e = urlError(() => parseSuperPeerList(`udp://a:1?publicKey=${PK} udp://b:1?publicKey=${PK2}&networkId=2`));
    expect(e.code).toBe("network_id_mismatch");
    expect(e.message).toMatch(/network id/);
    expect(urlError(() => parseSuperPeerList(" , \n")).code).toBe("empty_list");
    expect(urlError(() => parseSuperPeerList(`udp://a:1?publicKey=${PK} bogus`)).code).toBe("invalid_url");
  });
});

// -------------------------------------------------------------------------------------------------
// Sockets

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startNode(opts: Partial<DrasylNodeOptions> & { identity: Identity }): Promise<DrasylNode> {
  const node = new DrasylNode({ superPeers: [], bind: { address: "127.0.0.1" }, ...opts });
  cleanups.push(() => node.close());
  await node.start();
  return node;
}

function frame(pkt: Uint8Array): Buffer {
  const f = Buffer.alloc(2 + pkt.length);
  f.writeUInt16BE(pkt.length, 0);
  f.set(pkt, 2);
  return f;
}

function deframer(onFrame: (pkt: Buffer) => void): (chunk: Buffer) => void {
  let buf = Buffer.alloc(0);
  return (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      const len = buf.readUInt16BE(0);
      onFrame(Buffer.from(buf.subarray(2, 2 + len)));
      buf = buf.subarray(2 + len);
    }
  };
}

interface Received {
  transport: "udp" | "tcp";
  header: LongHeader;
  /** Undefined for packets addressed to someone else (we cannot open those). */
  msg: Message | undefined;
  raw: Uint8Array;
}

interface FakeSuperPeerOptions {
  /** Which key the ACK claims to come from (default: the super peer's own). */
  ackAs?: Identity;
  ackNetworkId?: number;
  armAck?: boolean;
  answerUdp?: boolean;
  host?: string;
}

/** Just enough super peer to answer HELLOs: raw sockets plus the codec. */
class FakeSuperPeer {
  readonly received: Received[] = [];
  readonly tcpConnections: TcpSocket[] = [];
  answerUdp: boolean;
  private udp: UdpSocket | undefined;
  private server: Server | undefined;

  constructor(
    readonly identity: Identity,
    private readonly opts: FakeSuperPeerOptions = {},
  ) {
    this.answerUdp = opts.answerUdp ?? true;
  }

  get host(): string {
    return this.opts.host ?? "127.0.0.1";
  }

  get udpPort(): number {
    return (this.udp?.address() as AddressInfo).port;
  }

  get tcpPort(): number {
    return (this.server?.address() as AddressInfo).port;
  }

  get address() {
    return { host: this.host, port: this.udpPort, tcpPort: this.tcpPort, publicKey: this.identity.publicKey };
  }

  async start(): Promise<this> {
    const udp = createSocket(this.host.includes(":") ? "udp6" : "udp4");
    this.udp = udp;
    udp.on("message", (msg: Buffer, rinfo: RemoteInfo) => {
      const ack = this.handle(msg, "udp");
      if (ack && this.answerUdp) udp.send(ack, rinfo.port, rinfo.address);
    });
    udp.bind(0, this.host);
    await once(udp, "listening");
    const server = createServer((conn) => {
      this.tcpConnections.push(conn);
      conn.on(
        "data",
        deframer((pkt) => {
          const ack = this.handle(pkt, "tcp");
          if (!ack) return;
          // Split the frame across writes to exercise the node's reassembly.
          const f = frame(ack);
          conn.write(f.subarray(0, 1));
          setTimeout(() => conn.write(f.subarray(1)), 5);
        }),
      );
      conn.on("error", () => {});
    });
    this.server = server;
    server.listen(0, this.host);
    await once(server, "listening");
    cleanups.push(() => this.close());
    return this;
  }

  session(peer: Uint8Array, as: Identity = this.identity) {
    return computeSessionKeys(as.xPublic, as.xSecret, ed25519PublicToX25519(peer));
  }

  /** Records the packet; for a HELLO returns the ACK to send back. Packets for others are only recorded, as a relay would. */
  handle(pkt: Uint8Array, transport: "udp" | "tcp"): Uint8Array | undefined {
    const raw = Uint8Array.from(pkt);
    const sender = pkt.slice(42, 74);
    const toMe = bytesToHex(pkt.subarray(10, 42)) === this.identity.publicKeyHex;
    const opened = openPacket(pkt, toMe ? this.session(sender).rx : undefined);
    if (!opened.ok) {
      if (toMe) throw new Error(`fake super peer could not open a packet: ${opened.reason}`);
      const h = parseHeader(pkt);
      if (!h.ok) throw new Error(`fake super peer got garbage: ${h.reason}`);
      this.received.push({ transport, header: h.value, msg: undefined, raw });
      return undefined;
    }
    const { header, body } = opened.value;
    const msg = decodeMessage(header, body, toMe ? "super-peer" : "node-peer");
    if (!msg.ok) throw new Error(`fake super peer could not decode: ${msg.reason}`);
    this.received.push({ transport, header, msg: msg.value, raw });
    if (msg.value.type !== MessageType.Hello) return undefined;
    const as = this.opts.ackAs ?? this.identity;
    return buildPacket(
      {
        hopCount: 0,
        networkId: this.opts.ackNetworkId ?? header.networkId,
        recipient: sender,
        sender: as.publicKey,
        pow: as.pow,
        type: MessageType.Ack,
      },
      encodeAck(msg.value.time),
      this.opts.armAck === false ? {} : { txKey: this.session(sender, as).tx },
    );
  }

  /** Sends a packet to the node the way the super peer would: over its TCP connection or UDP. */
  sendTo(pkt: Uint8Array, via: "udp" | "tcp", node: DrasylNode): void {
    if (via === "tcp") {
      const conn = this.tcpConnections[0];
      if (!conn) throw new Error("no TCP connection");
      conn.write(frame(pkt));
    } else {
      this.udp?.send(pkt, node.address().port, node.address().address);
    }
  }

  async close(): Promise<void> {
    for (const c of this.tcpConnections) c.destroy();
    const server = this.server;
    const udp = this.udp;
    this.server = undefined;
    this.udp = undefined;
    if (server) await new Promise((r) => server.close(r));
    if (udp) await new Promise<void>((r) => udp.close(() => r()));
  }
}

/** A raw UDP socket for hand-built packets. */
async function rawSocket(host = "127.0.0.1"): Promise<UdpSocket> {
  const s = createSocket(host.includes(":") ? "udp6" : "udp4");
  s.bind(0, host);
  await once(s, "listening");
  cleanups.push(() => new Promise<void>((r) => s.close(() => r())));
  return s;
}

async function until(cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

function header(from: Identity, to: Identity, type: MessageType, networkId = 1, hopCount = 0) {
  return { hopCount, networkId, recipient: to.publicKey, sender: from.publicKey, pow: from.pow, type };
}

function sessionTx(from: Identity, to: Identity): Uint8Array {
  return computeSessionKeys(from.xPublic, from.xSecret, to.xPublic).tx;
}

describe("DrasylNode between two nodes", () => {
  for (const host of ["127.0.0.1", "::1"]) {
    it(`HELLO_NODE_PEER gets an armed ACK (${host})`, async () => {
      const a = await startNode({ identity: ID1, bind: { address: host } });
      const b = await startNode({ identity: ID2, bind: { address: host } });
      const hellos: Endpoint[] = [];
      b.on("hello", (e) => hellos.push(e.remote));
      const acks: boolean[] = [];
      a.on("ack", (e) => acks.push(e.superPeer));

      const r = await a.helloNodePeer(ID2.publicKey, b.address(), 2000);
      expect(r.peer).toBe(ID2.publicKeyHex);
      expect(r.rttMs).toBeGreaterThanOrEqual(0);
      expect(r.rttMs).toBeLessThan(2000);
      expect(hellos).toEqual([a.address()]);
      expect(acks).toEqual([false]);
      expect(b.counters).toMatchObject({ helloRx: 1, ackTx: 1 });
      expect(a.drops.size + b.drops.size).toBe(0);
    });
  }

  it("times out when nobody answers, naming the peer", async () => {
    const a = await startNode({ identity: ID1 });
    const silent = await rawSocket();
    const port = (silent.address() as AddressInfo).port;
    await expect(a.helloNodePeer(ID2.publicKey, { address: "127.0.0.1", port }, 100)).rejects.toThrow(
      new RegExp(`no ACK from node peer ${ID2.publicKeyHex.slice(0, 16)}.*within 100 ms`),
    );
  });

  it("delivers armed APPs and drops everything invalid, counting why", async () => {
    const b = await startNode({ identity: ID2 });
    const apps: AppEvent[] = [];
    b.on("app", (e) => apps.push(e));
    const raw = await rawSocket();
    const send = (pkt: Uint8Array) => raw.send(pkt, b.address().port, "127.0.0.1");
    const tx = sessionTx(ID1, ID2);
    const payload = new TextEncoder().encode("hello b");

    send(buildPacket(header(ID1, ID2, MessageType.App, 1, 1), payload, { txKey: tx }));
    await until(() => apps.length === 1);
    expect(bytesToHex(apps[0]?.sender ?? new Uint8Array())).toBe(ID1.publicKeyHex);
    expect(Buffer.from(apps[0]?.payload ?? []).toString()).toBe("hello b");
    expect(apps[0]).toMatchObject({ hopCount: 1, via: "udp" });

    // The Rust node would hand this spoofable plaintext to the application.
    send(buildPacket(header(ID1, ID2, MessageType.App), payload));
    const tampered = buildPacket(header(ID1, ID2, MessageType.App), payload, { txKey: tx });
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] as number) ^ 1;
    send(tampered);
    send(buildPacket(header(ID1, ID2, MessageType.App, 2), payload, { txKey: tx }));
    send(buildPacket(header(ID1, ID3, MessageType.App), payload, { txKey: sessionTx(ID1, ID3) }));
    send(buildPacket(header(ID1, ID2, MessageType.App), payload, { txKey: sessionTx(ID3, ID2) }));
    send(new Uint8Array(50));
    send(new Uint8Array(100));
    const old = nowMicros() - 61_000_000n;
    send(buildPacket(header(ID1, ID2, MessageType.Hello), encodeHelloNodePeer(old, new Uint8Array(4)), { txKey: tx }));
    send(buildPacket(header(ID1, ID2, MessageType.Ack), encodeAck(nowMicros() - 10_000n), { txKey: tx }));
    send(buildPacket(header(ID1, ID2, MessageType.Unite), encodeUnite(ID3.publicKey, []), { txKey: tx }));
    send(buildPacket(header(ID1, ID2, MessageType.Hello), new Uint8Array(4), { txKey: tx }));

    const expected = {
      unarmed: 1,
      tag_invalid: 2,
      network_id_invalid: 1,
      recipient_invalid: 1,
      too_short: 1,
      magic_invalid: 1,
      hello_too_old: 1,
      ack_unmatched: 1,
      type_unexpected: 1,
      body_too_short: 1,
    };
    await until(() => [...b.drops.values()].reduce((x, y) => x + y, 0) === 11);
    expect(Object.fromEntries(b.drops)).toEqual(expected);
    expect(apps).toHaveLength(1);
    expect(b.counters.ackTx).toBe(0);
  });

  it("a non-arming node accepts unarmed APPs", async () => {
    const b = await startNode({ identity: ID2, armMessages: false });
    const raw = await rawSocket();
    const got = once(b, "app") as Promise<[AppEvent]>;
    raw.send(buildPacket(header(ID1, ID2, MessageType.App), Uint8Array.of(1, 2, 3)), b.address().port, "127.0.0.1");
    const [e] = await got;
    expect([...e.payload]).toEqual([1, 2, 3]);
  });
});

describe("DrasylNode and a super peer", () => {
  it("hello() over UDP resolves on the armed ACK with an RTT", async () => {
    const sp = await new FakeSuperPeer(ID3).start();
    const node = await startNode({ identity: ID1, superPeers: [sp.address] });
    const r = await node.hello(sp.address, "udp", 2000);
    expect(r.superPeer).toBe(ID3.publicKeyHex);
    expect(r.transport).toBe("udp");
    expect(r.rttMs).toBeGreaterThanOrEqual(0);
    expect(r.rttMs).toBeLessThan(2000);

    const got = sp.received[0];
    expect(got?.header.armed).toBe(true);
    expect(got?.msg).toMatchObject({
      type: MessageType.Hello,
      kind: "super-peer",
      childTime: 1n,
      endpoints: [node.address()],
    });
    expect(node.stats().superPeers[0]?.rttMs.udp).toBe(r.rttMs);
    expect(node.drops.size).toBe(0);
  });

  it("hello() over IPv6 and by public key", async () => {
    const sp = await new FakeSuperPeer(ID3, { host: "::1" }).start();
    const node = await startNode({ identity: ID1, superPeers: [sp.address], bind: { address: "::1" } });
    await expect(node.hello(ID3.publicKey, "udp", 2000)).resolves.toMatchObject({ transport: "udp" });
    await expect(node.hello(ID3.publicKey, "tcp", 2000)).resolves.toMatchObject({ transport: "tcp" });
  });

  it("a dual-stack node reaches an IPv4 super peer", async () => {
    const sp = await new FakeSuperPeer(ID3).start();
    const node = await startNode({ identity: ID1, superPeers: [sp.address], bind: { address: "::" }, endpoints: [] });
    await expect(node.hello(sp.address, "udp", 2000)).resolves.toMatchObject({ transport: "udp" });
  });

  it("hello() over TCP frames both ways, keeps the connection, carries APPs", async () => {
    const sp = await new FakeSuperPeer(ID3).start();
    const node = await startNode({ identity: ID1, superPeers: [sp.address] });
    const first = await node.hello(sp.address, "tcp", 2000);
    expect(first.transport).toBe("tcp");
    await node.hello(sp.address, "tcp", 2000);
    expect(sp.tcpConnections).toHaveLength(1);
    expect(sp.received.map((r) => r.transport)).toEqual(["tcp", "tcp"]);
    expect(node.stats().superPeers[0]).toMatchObject({ tcpConnected: true });

    // With a TCP connection, APPs default to it; the body is armed for the recipient, not the super peer.
    node.sendApp(ID2.publicKey, Uint8Array.of(9, 8, 7));
    await until(() => sp.received.length === 3);
    const relayed = sp.received[2];
    expect(relayed?.transport).toBe("tcp");
    expect(bytesToHex(relayed?.header.recipient ?? new Uint8Array())).toBe(ID2.publicKeyHex);
    expect(relayed?.header).toMatchObject({ hopCount: 0, armed: true, type: MessageType.App });

    // A relayed APP from another node over the same connection.
    const apps: AppEvent[] = [];
    node.on("app", (e) => apps.push(e));
    sp.sendTo(
      buildPacket(header(ID2, ID1, MessageType.App, 1, 1), Uint8Array.of(5), { txKey: sessionTx(ID2, ID1) }),
      "tcp",
      node,
    );
    await until(() => apps.length === 1);
    expect(apps[0]).toMatchObject({ hopCount: 1, via: "tcp" });
    expect(bytesToHex(apps[0]?.sender ?? new Uint8Array())).toBe(ID2.publicKeyHex);
  });

  it("sendApp over UDP arms end to end and refuses packets beyond the MTU", async () => {
    const sp = await new FakeSuperPeer(ID3).start();
    const node = await startNode({ identity: ID1, superPeers: [sp.address] });
    const largest = MTU - 79 - 48;
    node.sendApp(ID2.publicKey, new Uint8Array(largest).fill(1), "udp");
    expect(() => node.sendApp(ID2.publicKey, new Uint8Array(largest + 1), "udp")).toThrow(RangeError);
    expect(() => node.sendApp(ID2.publicKey, new Uint8Array(1), "tcp")).toThrow(/no TCP connection/);
    await until(() => sp.received.length === 1);
    const got = sp.received[0];
    expect(got?.transport).toBe("udp");
    expect(got?.raw.length).toBe(MTU);
    const opened = openPacket(
      Uint8Array.from(got?.raw ?? []),
      computeSessionKeys(ID2.xPublic, ID2.xSecret, ID1.xPublic).rx,
    );
    expect(opened.ok && opened.value.body.every((b) => b === 1)).toBe(true);
    expect(node.counters.appTx).toBe(1);
  });

  it("ignores an ACK from the wrong key, the wrong network or unarmed, and explains the timeout", async () => {
    const cases: [FakeSuperPeerOptions, string][] = [
      [{ ackAs: ID2 }, "ack_wrong_sender"],
      [{ ackNetworkId: 2 }, "network_id_invalid"],
      [{ armAck: false }, "unarmed"],
    ];
    for (const [opts, reason] of cases) {
      const sp = await new FakeSuperPeer(ID3, opts).start();
      const node = await startNode({ identity: ID1, superPeers: [sp.address] });
      for (const transport of ["udp", "tcp"] as const) {
        const err = await node.hello(sp.address, transport, 150).then(
          () => undefined,
          (e: unknown) => e as Error,
        );
        expect(err?.message, `${reason} via ${transport}`).toMatch(
          new RegExp(
            `no ACK from super peer .* over ${transport} within 150 ms; ignored packets from there: ${reason}×1`,
          ),
        );
      }
      expect(node.drops.get(reason)).toBe(2);
      expect(node.counters.ackRx).toBe(0);
    }
  });

  it("relays a UNITE into a direct HELLO_NODE_PEER exchange", async () => {
    const sp = await new FakeSuperPeer(ID3).start();
    const a = await startNode({ identity: ID1, superPeers: [sp.address] });
    const b = await startNode({ identity: ID2 });
    const unites: UniteEvent[] = [];
    a.on("unite", (e) => unites.push(e));
    const direct = new Promise<string>((resolve) => a.on("ack", (e) => !e.superPeer && resolve(bytesToHex(e.peer))));

    await a.hello(sp.address, "udp", 2000);
    const unite = encodeUnite(ID2.publicKey, [
      { address: "127.0.0.1", port: 1 },
      b.address(),
      { address: "::1", port: 2 },
    ]);
    sp.sendTo(buildPacket(header(ID3, ID1, MessageType.Unite), unite, { txKey: sessionTx(ID3, ID1) }), "udp", a);

    expect(await direct).toBe(ID2.publicKeyHex);
    expect(unites).toHaveLength(1);
    expect(unites[0]?.via).toBe("udp");
    expect(unites[0]?.endpoints).toContainEqual(b.address());
    expect(b.counters.helloRx).toBe(1);
  });

  it("hello loop falls back to TCP when UDP is silent and drops it when UDP answers again", async () => {
    const sp = await new FakeSuperPeer(ID3, { answerUdp: false }).start();
    const node = await startNode({ identity: ID1, superPeers: [sp.address], helloTimeoutMs: 120 });
    const states: string[] = [];
    node.on("tcp", (e) => states.push(e.state));
    const tcpAck = new Promise<void>((resolve) => node.on("ack", (e) => e.transport === "tcp" && resolve()));

    node.startHelloLoop(40);
    await tcpAck;
    expect(states).toEqual(["connected"]);
    expect(node.stats().superPeers[0]?.tcpConnected).toBe(true);
    // The fallback's first HELLO goes out immediately on connect.
    expect(sp.received.some((r) => r.transport === "tcp")).toBe(true);

    sp.answerUdp = true;
    await until(() => states.length === 2);
    expect(states).toEqual(["connected", "closed"]);
    expect(node.stats().superPeers[0]).toMatchObject({ tcpConnected: false });
    expect(node.stats().superPeers[0]?.rttMs.udp).toBeGreaterThanOrEqual(0);
    node.stopHelloLoop();
  });

  it("rejects pending hellos on close, and a failed TCP connect clearly", async () => {
    const sp = await new FakeSuperPeer(ID3, { answerUdp: false }).start();
    const address = { ...sp.address, port: 9 };
    await sp.close();
    const node = new DrasylNode({ identity: ID1, superPeers: [address], bind: { address: "127.0.0.1" } });
    await node.start();
    await expect(node.hello(ID3.publicKey, "tcp", 1000)).rejects.toThrow(
      /TCP connection to super peer .* failed: .*ECONNREFUSED/,
    );
    const pending = expect(node.hello(ID3.publicKey, "udp", 5000)).rejects.toThrow(/closed/);
    await node.close();
    await pending;
    expect(() => node.sendApp(ID2.publicKey, new Uint8Array(1))).toThrow(/closed/);
  });

  it("works with a freshly generated low-difficulty identity", async () => {
    const me = await generateIdentity({ difficulty: 8 });
    const sp = await new FakeSuperPeer(ID3).start();
    const node = await startNode({ identity: me, superPeers: [sp.address] });
    await expect(node.hello(sp.address, "udp", 2000)).resolves.toMatchObject({ superPeer: ID3.publicKeyHex });
  });
});
