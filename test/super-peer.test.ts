import { afterEach, describe, expect, it } from "vitest";
import { computeSessionKeys } from "../sp-runtime/crypto/session.ts";
import { generateIdentity } from "../sp-runtime/identity/identity.ts";
import { bytesToHex } from "../sp-runtime/util/hex.ts";
import { HEADER_LEN, MessageType } from "../sp-runtime/wire/constants.ts";
import { decodeAck, encodeHelloSuperPeer, nowMicros } from "../sp-runtime/wire/messages.ts";
import { buildPacket, openPacket } from "../sp-runtime/wire/packet.ts";
import {
  RawClient,
  RawTcpClient,
  deferredCleanup,
  type TestSuperPeer,
  until,
  vectorIdentity,
} from "./support/super-peer.ts";

const { defer, superPeer } = deferredCleanup(afterEach);

async function client(sp: TestSuperPeer, name: "id_2" | "id_3" = "id_2", family: 4 | 6 = 4): Promise<RawClient> {
  const c = await RawClient.open(vectorIdentity(name), sp.identity, family);
  defer(() => c.close());
  return c;
}

describe("HELLO and ACK", () => {
  it("answers an armed HELLO with an armed ACK echoing the time", async () => {
    const sp = await superPeer();
    const c = await client(sp);
    const time = nowMicros();
    c.send(c.hello(sp.identity.publicKey, { time }), sp.bound.udp4?.port ?? 0);
    const reply = await c.receive();
    expect(reply).toBeDefined();
    const opened = openPacket(reply as Buffer, c.session.rx);
    if (!opened.ok) throw new Error(opened.reason);
    const h = opened.value.header;
    expect(h.type).toBe(MessageType.Ack);
    expect(h.armed).toBe(true);
    expect(h.hopCount).toBe(0);
    expect(bytesToHex(h.sender)).toBe(sp.identity.publicKeyHex);
    expect(bytesToHex(h.recipient)).toBe(c.identity.publicKeyHex);
    expect(h.pow).toBe(sp.identity.pow);
    expect(decodeAck(opened.value.body)).toEqual({ ok: true, value: time });
    expect(sp.sp.peers.size).toBe(1);
  });

  it("answers an unarmed HELLO unarmed when arming is off", async () => {
    const sp = await superPeer({ DRASYL_ARM_MESSAGES: "false" });
    const c = await client(sp);
    const time = nowMicros();
    c.send(c.hello(sp.identity.publicKey, { time, armed: false }), sp.bound.udp4?.port ?? 0);
    const reply = (await c.receive()) as Buffer;
    expect(reply.length).toBe(HEADER_LEN + 8);
    const opened = openPacket(reply, undefined);
    expect(opened.ok && opened.value.header.armed).toBe(false);
    expect(opened.ok && decodeAck(opened.value.body)).toEqual({ ok: true, value: time });
  });

  it("drops and counts wrong network id, wrong armed flag, invalid PoW, stale and future HELLOs", async () => {
    const sp = await superPeer({ DRASYL_HELLO_MAX_AGE: "60000" });
    const c = await client(sp);
    const port = sp.bound.udp4?.port ?? 0;
    const me = sp.identity.publicKey;
    c.send(c.hello(me, { header: { networkId: 2 } }), port);
    c.send(c.hello(me, { armed: false }), port);
    c.send(c.hello(me, { time: nowMicros() - 61_000_000n }), port);
    c.send(c.hello(me, { time: nowMicros() + 61_000_000n }), port);
    const liar = await client(sp, "id_3");
    liar.send(liar.hello(me, { header: { pow: liar.identity.pow + 1 } }), port);
    expect(await until(() => sp.sp.drops.total() >= 5)).toBe(true);
    expect(sp.sp.drops.get("network_id_invalid")).toBe(1);
    expect(sp.sp.drops.get("message_unarmed")).toBe(1);
    expect(sp.sp.drops.get("hello_too_old")).toBe(1);
    expect(sp.sp.drops.get("hello_in_future")).toBe(1);
    expect(sp.sp.drops.get("pow_invalid")).toBe(1);
    expect(await c.receive(200)).toBeUndefined();
    expect(await liar.receive(50)).toBeUndefined();
    // Still serving afterwards.
    c.send(c.hello(me), port);
    expect(await c.receive()).toBeDefined();
  });

  it("drops an armed HELLO when arming is off, and a tampered one when on", async () => {
    const off = await superPeer({ DRASYL_ARM_MESSAGES: "false" });
    const c = await client(off);
    c.send(c.hello(off.identity.publicKey), off.bound.udp4?.port ?? 0);
    expect(await until(() => off.sp.drops.get("message_armed") === 1)).toBe(true);

    const on = await superPeer();
    const d = await client(on, "id_3");
    const pkt = d.hello(on.identity.publicKey);
    pkt[pkt.length - 1] = (pkt[pkt.length - 1] as number) ^ 1;
    d.send(pkt, on.bound.udp4?.port ?? 0);
    expect(await until(() => on.sp.drops.get("tag_invalid") === 1)).toBe(true);
  });

  it("never crashes on garbage and counts every malformed datagram", async () => {
    const sp = await superPeer();
    const c = await client(sp);
    const port = sp.bound.udp4?.port ?? 0;
    for (let i = 0; i < 300; i++) {
      const junk = Buffer.alloc(i % 3 === 0 ? 10 : 200, i & 0xff);
      if (i % 3 === 1) junk.writeUInt32BE(0x1e3f5001, 0);
      c.send(junk, port);
    }
    expect(await until(() => sp.sp.drops.total() === 300)).toBe(true);
    c.send(c.hello(sp.identity.publicKey), port);
    expect(await c.receive()).toBeDefined();
  });

  it("serves IPv6", async () => {
    const sp = await superPeer();
    const c = await client(sp, "id_2", 6);
    c.send(c.hello(sp.identity.publicKey), sp.bound.udp6?.port ?? 0, "::1");
    const reply = await c.receive();
    expect(reply && openPacket(reply, c.session.rx).ok).toBe(true);
    expect([...sp.sp.peers.values()][0]?.ipVersion).toBe("ipv6");
  });
});

describe("peer table", () => {
  it("refuses new peers beyond DRASYL_MAX_PEERS", async () => {
    const sp = await superPeer({ DRASYL_MAX_PEERS: "1" });
    const a = await client(sp, "id_2");
    const b = await client(sp, "id_3");
    const port = sp.bound.udp4?.port ?? 0;
    a.send(a.hello(sp.identity.publicKey), port);
    expect(await a.receive()).toBeDefined();
    b.send(b.hello(sp.identity.publicKey), port);
    expect(await b.receive(300)).toBeUndefined();
    expect(sp.sp.drops.get("capacity_exceeded")).toBe(1);
    a.send(a.hello(sp.identity.publicKey), port);
    expect(await a.receive()).toBeDefined();
  });

  it("evicts peers silent for DRASYL_HELLO_TIMEOUT", async () => {
    const sp = await superPeer({ DRASYL_HELLO_TIMEOUT: "300", DRASYL_HOUSEKEEPING_INTERVAL: "100" });
    const c = await client(sp);
    c.send(c.hello(sp.identity.publicKey), sp.bound.udp4?.port ?? 0);
    expect(await c.receive()).toBeDefined();
    expect(sp.sp.peers.size).toBe(1);
    expect(await until(() => sp.sp.peers.size === 0, 2000)).toBe(true);
    expect(sp.sp.totals.evicted).toBe(1);
  });

  it("MAX_PEERS=0 means unlimited", async () => {
    const sp = await superPeer({ DRASYL_MAX_PEERS: "0", DRASYL_MIN_POW_DIFFICULTY: "4" });
    const port = sp.bound.udp4?.port ?? 0;
    const n = 20;
    const clients = await Promise.all(
      Array.from({ length: n }, async () =>
        RawClient.open(await generateIdentity({ difficulty: 4, workers: 1 }), sp.identity),
      ),
    );
    defer(() => clients.forEach((c) => c.close()));
    for (const c of clients) c.send(c.hello(sp.identity.publicKey), port);
    expect(await until(() => sp.sp.peers.size === n)).toBe(true);
  });
});

describe("TCP", () => {
  it("answers a framed HELLO over TCP and closes the connection on a bad frame", async () => {
    const sp = await superPeer();
    const c = await client(sp);
    const tcp = await RawTcpClient.connect(sp.bound.tcp4?.port ?? 0);
    defer(() => tcp.close());
    const time = nowMicros();
    tcp.send(c.hello(sp.identity.publicKey, { time }));
    expect(await tcp.waitFor(() => tcp.frames.length === 1)).toBe(true);
    const opened = openPacket(tcp.frames[0] as Buffer, c.session.rx);
    expect(opened.ok && decodeAck(opened.value.body)).toEqual({ ok: true, value: time });
    expect([...sp.sp.peers.values()][0]?.prot).toBe("tcp");
    tcp.send(Buffer.alloc(100));
    expect(await tcp.waitFor(() => tcp.closed)).toBe(true);
    expect(sp.sp.drops.get("magic_invalid")).toBe(1);
  });

  it("skips oversized frames without buffering them and keeps the connection", async () => {
    const sp = await superPeer({ DRASYL_TCP_MAX_FRAME: "200" });
    const c = await client(sp);
    const tcp = await RawTcpClient.connect(sp.bound.tcp4?.port ?? 0);
    defer(() => tcp.close());
    const big = Buffer.alloc(60_000 + 2);
    big.writeUInt16BE(60_000, 0);
    tcp.socket.write(big);
    tcp.send(c.hello(sp.identity.publicKey));
    expect(await tcp.waitFor(() => tcp.frames.length === 1)).toBe(true);
    expect(sp.sp.drops.get("tcp_frame_too_large")).toBe(1);
  });

  it("really rejects connections beyond the limit and closes silent ones", async () => {
    const sp = await superPeer({
      DRASYL_MAX_PEERS: "2",
      DRASYL_HELLO_TIMEOUT: "400",
      DRASYL_HOUSEKEEPING_INTERVAL: "100",
    });
    const port = sp.bound.tcp4?.port ?? 0;
    const conns = [await RawTcpClient.connect(port), await RawTcpClient.connect(port)];
    await new Promise((r) => setTimeout(r, 50));
    const third = await RawTcpClient.connect(port);
    conns.push(third);
    defer(() => conns.forEach((c) => c.close()));
    expect(await third.waitFor(() => third.closed)).toBe(true);
    expect(sp.sp.drops.get("tcp_connection_limit")).toBe(1);
    expect(conns[0]?.closed).toBe(false);
    // Slow/silent connections are closed by housekeeping after the idle timeout.
    expect(await until(() => conns.every((c) => c.closed), 3000)).toBe(true);
  });
});

describe("relay and UNITE", () => {
  it("relays APP unchanged but for the hop count and drops past hop 7", async () => {
    const sp = await superPeer({ DRASYL_SEND_UNITES: "-1" });
    const a = await client(sp, "id_2");
    const b = await client(sp, "id_3");
    const port = sp.bound.udp4?.port ?? 0;
    for (const x of [a, b]) {
      x.send(x.hello(sp.identity.publicKey), port);
      expect(await x.receive()).toBeDefined();
    }
    const e2e = computeSessionKeys(a.identity.xPublic, a.identity.xSecret, b.identity.xPublic);
    const app = buildPacket(a.header(b.identity.publicKey, MessageType.App, { hopCount: 7 }), Buffer.from("hi"), {
      txKey: e2e.tx,
    });
    a.send(app, port);
    const got = (await b.receive()) as Buffer;
    expect(got[4]).toBe(8);
    expect(bytesToHex(got.subarray(5))).toBe(bytesToHex(app.subarray(5)));
    const back = computeSessionKeys(b.identity.xPublic, b.identity.xSecret, a.identity.xPublic);
    const opened = openPacket(got, back.rx);
    expect(opened.ok && Buffer.from(opened.value.body).toString()).toBe("hi");

    a.send(
      buildPacket(a.header(b.identity.publicKey, MessageType.App, { hopCount: 8 }), Buffer.from("x"), {
        txKey: e2e.tx,
      }),
      port,
    );
    expect(await until(() => sp.sp.drops.get("hop_limit_exceeded") === 1)).toBe(true);
    a.send(buildPacket(a.header(a.identity.publicKey, MessageType.App), Buffer.from("x")), port);
    a.send(
      buildPacket(
        a.header(
          vectorIdentity("id_1").publicKey.map((v) => v ^ 1),
          MessageType.App,
        ),
        Buffer.from("x"),
      ),
      port,
    );
    a.send(buildPacket(a.header(b.identity.publicKey, MessageType.Hello), Buffer.from("x")), port);
    expect(
      await until(() => sp.sp.drops.get("loopback_forwarding") === 1 && sp.sp.drops.get("recipient_unknown") === 1),
    ).toBe(true);
    expect(sp.sp.drops.get("message_type_unexpected")).toBe(1);
    expect(await b.receive(100)).toBeUndefined();
  });

  it("sends UNITE to both with reported endpoints plus the observed source, rate limited", async () => {
    const sp = await superPeer({ DRASYL_SEND_UNITES: "400" });
    const a = await client(sp, "id_2");
    const b = await client(sp, "id_3");
    const port = sp.bound.udp4?.port ?? 0;
    a.send(a.hello(sp.identity.publicKey, { endpoints: [{ address: "10.1.1.1", port: 1111 }] }), port);
    b.send(b.hello(sp.identity.publicKey, { endpoints: [{ address: "2001:db8::2", port: 2222 }] }), port);
    expect(await a.receive()).toBeDefined();
    expect(await b.receive()).toBeDefined();
    const e2e = computeSessionKeys(a.identity.xPublic, a.identity.xSecret, b.identity.xPublic);
    const app = () => buildPacket(a.header(b.identity.publicKey, MessageType.App), Buffer.from("p"), { txKey: e2e.tx });

    const unites = async (x: RawClient) => {
      const found = [];
      for (let m = await x.receive(300); m; m = await x.receive(150)) {
        const o = openPacket(m, x.session.rx);
        if (o.ok && o.value.header.type === MessageType.Unite) found.push(o.value.body.slice());
      }
      return found;
    };
    a.send(app(), port);
    a.send(app(), port);
    const forA = await unites(a);
    const forB = await unites(b);
    expect(forA.length).toBe(1);
    expect(forB.length).toBe(1);
    const { decodeUnite } = await import("../sp-runtime/wire/messages.ts");
    const ua = decodeUnite(forA[0] as Uint8Array);
    const ub = decodeUnite(forB[0] as Uint8Array);
    if (!ua.ok || !ub.ok) throw new Error("bad unite");
    expect(bytesToHex(ua.value.address)).toBe(b.identity.publicKeyHex);
    expect(ua.value.endpoints).toEqual([
      { address: "2001:db8::2", port: 2222 },
      { address: "127.0.0.1", port: b.port },
    ]);
    expect(bytesToHex(ub.value.address)).toBe(a.identity.publicKeyHex);
    expect(ub.value.endpoints).toEqual([
      { address: "10.1.1.1", port: 1111 },
      { address: "127.0.0.1", port: a.port },
    ]);
    // After the rate-limit window the next relay unites again (the Rust purge would have done so after <= 5 ms).
    await new Promise((r) => setTimeout(r, 450));
    a.send(app(), port);
    expect((await unites(a)).length).toBe(1);
    expect(sp.sp.totals.uniteTx).toBe(4);
  });

  it("with SEND_UNITES=0 unites after every relay, with -1 never", async () => {
    for (const [value, expected] of [
      ["0", 3],
      ["-1", 0],
    ] as const) {
      const sp = await superPeer({ DRASYL_SEND_UNITES: value });
      const a = await client(sp, "id_2");
      const b = await client(sp, "id_3");
      const port = sp.bound.udp4?.port ?? 0;
      for (const x of [a, b]) {
        x.send(x.hello(sp.identity.publicKey), port);
        await x.receive();
      }
      for (let i = 0; i < 3; i++)
        a.send(buildPacket(a.header(b.identity.publicKey, MessageType.App), Buffer.from("p")), port);
      expect(await until(() => sp.sp.totals.appTx === 3)).toBe(true);
      await new Promise((r) => setTimeout(r, 100));
      expect(sp.sp.totals.uniteTx).toBe(expected * 2);
    }
  });
});

describe("output and metrics", () => {
  it("prints the listening block with one URL per address", async () => {
    const sp = await superPeer();
    const pk = sp.identity.publicKeyHex;
    expect(sp.stdout).toContain("Super peer listening on:\n");
    expect(sp.stdout).toContain(
      `  udp://127.0.0.1:${sp.bound.udp4?.port}?publicKey=${pk}&networkId=1&tcpPort=${sp.bound.tcp4?.port}\n`,
    );
    expect(sp.stdout).toContain(
      `  udp://[::1]:${sp.bound.udp6?.port}?publicKey=${pk}&networkId=1&tcpPort=${sp.bound.tcp4?.port}\n`,
    );
  });

  it("serves Prometheus metrics behind a bearer token", async () => {
    const sp = await superPeer({
      DRASYL_PROMETHEUS_LISTEN: "127.0.0.1:0",
      DRASYL_PROMETHEUS_TOKEN: "s3cret",
      DRASYL_HOUSEKEEPING_INTERVAL: "50",
    });
    const c = await client(sp);
    const eps = [
      { address: "10.0.0.1", port: 1 },
      { address: "10.0.0.2", port: 2 },
      { address: "10.0.0.2", port: 2 },
    ];
    c.send(c.hello(sp.identity.publicKey, { endpoints: eps }), sp.bound.udp4?.port ?? 0);
    await c.receive();
    await new Promise((r) => setTimeout(r, 120));
    c.send(Buffer.alloc(3), sp.bound.udp4?.port ?? 0);
    await until(() => sp.sp.drops.get("too_short") === 1);
    const url = `http://127.0.0.1:${sp.bound.prometheus?.port}/metrics`;
    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(url, { headers: { Authorization: "Bearer wrong!" } })).status).toBe(401);
    expect((await fetch(`http://127.0.0.1:${sp.bound.prometheus?.port}/other`)).status).toBe(404);
    const res = await fetch(url, { headers: { Authorization: "Bearer s3cret" } });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/^drasyl_sp_peers 1$/m);
    expect(text).toContain(`drasyl_sp_messages{type="hello",peer="${c.identity.publicKeyHex}",direction="rx"} 1`);
    expect(text).toContain(`drasyl_sp_messages{type="ack",peer="${c.identity.publicKeyHex}",direction="tx"} 1`);
    expect(text).toContain(
      `drasyl_sp_peer_paths{peer="${c.identity.publicKeyHex}",ip_version="ipv4",transport="udp"} 1`,
    );
    expect(text).toContain('drasyl_sp_dropped_packets_total{reason="too_short"} 1');
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(text).toContain("drasyl_sp_relayed_bytes_total 0");
    // Two distinct endpoints, observed once per housekeeping tick.
    const pk = c.identity.publicKeyHex;
    const bucket = (le: string) =>
      Number(
        new RegExp(
          `^drasyl_sp_peer_endpoints_bucket\\{peer="${pk}",le="${le.replace("+", "\\+")}"\\} (\\d+)$`,
          "m",
        ).exec(text)?.[1],
      );
    expect(bucket("1")).toBe(0);
    expect(bucket("2")).toBeGreaterThanOrEqual(1);
    expect(bucket("+Inf")).toBe(bucket("2"));
    expect(text).toMatch(new RegExp(`^drasyl_sp_peer_endpoints_sum\\{peer="${pk}"\\} ${2 * bucket("2")}$`, "m"));
  });
});

describe("HELLO body", () => {
  it("accepts more than 15 endpoints by truncating them", async () => {
    const sp = await superPeer();
    const c = await client(sp);
    const eps = Array.from({ length: 20 }, (_, i) => ({ address: `10.0.0.${i + 1}`, port: 1000 + i }));
    const pkt = buildPacket(
      c.header(sp.identity.publicKey, MessageType.Hello),
      encodeHelloSuperPeer(nowMicros(), eps),
      { txKey: c.session.tx },
    );
    c.send(pkt, sp.bound.udp4?.port ?? 0);
    expect(await c.receive()).toBeDefined();
    expect([...sp.sp.peers.values()][0]?.endpoints.length).toBe(15 * 18);
  });
});
