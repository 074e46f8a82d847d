import { afterEach, describe, expect, it } from "vitest";
import { computeSessionKeys } from "../sp-runtime/crypto/session.ts";
import {
  ARM_HEADER_LEN,
  HEADER_LEN,
  MAX_TCP_FRAME,
  MAX_UDP4_PAYLOAD,
  MessageType,
} from "../sp-runtime/wire/constants.ts";
import { buildPacket } from "../sp-runtime/wire/packet.ts";
import {
  RawClient,
  RawTcpClient,
  deferredCleanup,
  type TestSuperPeer,
  until,
  vectorIdentity,
} from "./support/super-peer.ts";

const { defer, superPeer } = deferredCleanup(afterEach);

/** An armed APP from `from` to `to` of exactly `size` bytes on the wire, with a recognisable payload. */
function app(from: RawClient, to: RawClient, size: number): Uint8Array {
  const payload = Buffer.alloc(size - HEADER_LEN - ARM_HEADER_LEN);
  for (let i = 0; i < payload.length; i++) payload[i] = i * 7;
  const e2e = computeSessionKeys(from.identity.xPublic, from.identity.xSecret, to.identity.xPublic);
  return buildPacket(from.header(to.identity.publicKey, MessageType.App), payload, { txKey: e2e.tx });
}

/** A relayed copy differs only in the hop count (byte 4). */
function expectRelayed(got: Uint8Array | undefined, sent: Uint8Array): void {
  expect(got?.length).toBe(sent.length);
  expect(got?.[4]).toBe(1);
  expect(Buffer.from(got?.subarray(5) ?? []).equals(Buffer.from(sent.subarray(5)))).toBe(true);
}

/** Two clients with keys; `a` says HELLO over TCP, `b` over UDP (or TCP). */
async function pair(
  sp: TestSuperPeer,
  bOverTcp: boolean,
): Promise<{ a: RawClient; aTcp: RawTcpClient; b: RawClient; bTcp?: RawTcpClient }> {
  const a = await RawClient.open(vectorIdentity("id_2"), sp.identity);
  const b = await RawClient.open(vectorIdentity("id_3"), sp.identity);
  defer(() => a.close());
  defer(() => b.close());
  const aTcp = await RawTcpClient.connect(sp.bound.tcp4?.port ?? 0);
  defer(() => aTcp.close());
  aTcp.send(a.hello(sp.identity.publicKey));
  expect(await aTcp.waitFor(() => aTcp.frames.length === 1)).toBe(true);
  if (!bOverTcp) {
    b.send(b.hello(sp.identity.publicKey), sp.bound.udp4?.port ?? 0);
    expect(await b.receive()).toBeDefined();
    return { a, aTcp, b };
  }
  const bTcp = await RawTcpClient.connect(sp.bound.tcp4?.port ?? 0);
  defer(() => bTcp.close());
  bTcp.send(b.hello(sp.identity.publicKey));
  expect(await bTcp.waitFor(() => bTcp.frames.length === 1)).toBe(true);
  return { a, aTcp, b, bTcp };
}

describe("large TCP frames (Rust accepts the whole u16 frame length)", () => {
  it("defaults DRASYL_TCP_MAX_FRAME to 65535", async () => {
    const sp = await superPeer();
    expect(sp.config.tcpMaxFrame).toBe(MAX_TCP_FRAME);
  });

  it("relays a 1927-byte and a largest-datagram APP from TCP to a UDP peer; a frame too big for a datagram is counted, the connection kept", async () => {
    const sp = await superPeer({ DRASYL_SEND_UNITES: "-1" });
    const { a, aTcp, b } = await pair(sp, false);

    for (const size of [1927, MAX_UDP4_PAYLOAD]) {
      const pkt = app(a, b, size);
      aTcp.send(pkt);
      expectRelayed(await b.receive(3000), pkt);
    }

    aTcp.send(app(a, b, MAX_TCP_FRAME));
    expect(await until(() => sp.sp.drops.get("udp_payload_too_large") === 1)).toBe(true);
    const after = app(a, b, 200);
    aTcp.send(after);
    expectRelayed(await b.receive(3000), after);
    expect(aTcp.closed).toBe(false);
    expect(sp.sp.totals.appTx).toBe(3);
  });

  it("relays a 65535-byte frame from TCP to a TCP peer", async () => {
    const sp = await superPeer({ DRASYL_SEND_UNITES: "-1" });
    const { a, aTcp, b, bTcp } = await pair(sp, true);
    const pkt = app(a, b, MAX_TCP_FRAME);
    aTcp.send(pkt);
    expect(await bTcp?.waitFor(() => bTcp.frames.length === 2, 3000)).toBe(true);
    expectRelayed(bTcp?.frames[1], pkt);
  });

  it("still skips frames over an operator's smaller cap", async () => {
    const sp = await superPeer({ DRASYL_SEND_UNITES: "-1", DRASYL_TCP_MAX_FRAME: "1472" });
    const { a, aTcp, b } = await pair(sp, false);
    aTcp.send(app(a, b, 1927));
    expect(await until(() => sp.sp.drops.get("tcp_frame_too_large") === 1)).toBe(true);
    expect(await b.receive(200)).toBeUndefined();
  });
});
