import { describe, expect, it } from "vitest";
import { computeSessionKeys } from "../sp-runtime/crypto/session.ts";
import { Identity } from "../sp-runtime/identity/identity.ts";
import { HEADER_LEN, MessageType, OFF_HOP_COUNT } from "../sp-runtime/wire/constants.ts";
import { decodeEndpoints, encodeEndpoints, formatEndpoint } from "../sp-runtime/wire/endpoints.ts";
import {
  decodeHelloSuperPeer,
  decodeUnite,
  encodeAck,
  encodeHelloNodePeer,
  encodeHelloSuperPeer,
  encodeUnite,
} from "../sp-runtime/wire/messages.ts";
import { buildPacket, decodeMessage, openPacket } from "../sp-runtime/wire/packet.ts";
import { bytesToHex, hexToBytes } from "../sp-runtime/util/hex.ts";
import { drasyl, type DrasylPacketVector } from "./support/vectors.ts";

const identities = Object.fromEntries(
  Object.entries(drasyl.identities).map(([name, v]) => [
    name,
    new Identity(hexToBytes(v.secretKey), v.proofOfWork ?? 0),
  ]),
);
const ident = (name: string): Identity => {
  const i = identities[name];
  if (!i) throw new Error(`no identity ${name}`);
  return i;
};
const session = (of: string, peer: string) =>
  computeSessionKeys(ident(of).xPublic, ident(of).xSecret, ident(peer).xPublic);

function expectedType(v: DrasylPacketVector): MessageType {
  const word = v.name.split(" ")[0];
  return { HELLO: MessageType.Hello, ACK: MessageType.Ack, UNITE: MessageType.Unite, APP: MessageType.App }[
    word as "HELLO"
  ];
}

describe("packets from drasyl.json", () => {
  for (const v of drasyl.packets) {
    const sender = ident(v.sender);
    const recipient = ident(v.recipient);
    const header = {
      hopCount: 0,
      networkId: drasyl.networkId,
      recipient: recipient.publicKey,
      sender: sender.publicKey,
      pow: sender.pow,
      type: expectedType(v),
    };

    it(`builds byte for byte: ${v.name}`, () => {
      const txKey = v.armedWith ? session(v.sender, v.recipient).tx : undefined;
      const random = v.random ? hexToBytes(v.random, 32) : undefined;
      const pkt = buildPacket(header, hexToBytes(v.plaintextBody), { txKey, random });
      expect(bytesToHex(pkt)).toBe(v.packet);
    });

    it(`parses back: ${v.name}`, () => {
      const rxKey = v.armedWith ? session(v.recipient, v.sender).rx : undefined;
      for (const hex of [v.packet, v.relayedPacket].filter((x): x is string => x !== undefined)) {
        const opened = openPacket(hexToBytes(hex), rxKey);
        if (!opened.ok) throw new Error(`rejected: ${opened.reason}`);
        const h = opened.value.header;
        expect(h.armed).toBe(v.armedWith !== undefined);
        expect(h.hopCount).toBe(hex === v.relayedPacket ? 1 : 0);
        expect(h.networkId).toBe(drasyl.networkId);
        expect(bytesToHex(h.sender)).toBe(sender.publicKeyHex);
        expect(bytesToHex(h.recipient)).toBe(recipient.publicKeyHex);
        expect(h.pow).toBe(sender.pow);
        expect(h.type).toBe(header.type);
        expect(bytesToHex(opened.value.body)).toBe(v.plaintextBody);
        const kind = v.recipient === "id_1" ? "super-peer" : "node-peer";
        const msg = decodeMessage(h, opened.value.body, kind);
        if (!msg.ok) throw new Error(`rejected: ${msg.reason}`);
        if (msg.value.type === MessageType.Hello && msg.value.kind === "super-peer") {
          expect(msg.value.time).toBe(BigInt(v.time ?? 0));
          expect(msg.value.childTime).toBe(1n);
          expect(msg.value.endpoints).toEqual([{ address: "192.168.1.10", port: 22527 }]);
        }
        if (msg.value.type === MessageType.Ack) expect(msg.value.time).toBe(1700000000000000n);
        if (msg.value.type === MessageType.Unite) {
          expect(bytesToHex(msg.value.address)).toBe(ident("id_3").publicKeyHex);
          expect(msg.value.endpoints).toEqual([
            { address: "192.168.1.20", port: 22527 },
            { address: "198.51.100.7", port: 40000 },
          ]);
        }
        if (msg.value.type === MessageType.App) expect(Buffer.from(msg.value.payload).toString()).toBe("hello");
      }
    });
  }

  it("a relayed APP differs from the original only in the hop count", () => {
    const app = drasyl.packets.find((p) => p.relayedPacket);
    if (!app?.relayedPacket) throw new Error("no relayed vector");
    const a = hexToBytes(app.packet);
    const b = hexToBytes(app.relayedPacket);
    a[OFF_HOP_COUNT] = (a[OFF_HOP_COUNT] as number) + 1;
    expect(bytesToHex(a)).toBe(bytesToHex(b));
  });

  it("message encoders produce the vector bodies", () => {
    const hello = drasyl.packets[0];
    if (!hello) throw new Error("no vectors");
    expect(bytesToHex(encodeHelloSuperPeer(1700000000000000n, [{ address: "192.168.1.10", port: 22527 }]))).toBe(
      hello.plaintextBody,
    );
    expect(bytesToHex(encodeAck(1700000000000000n))).toBe("00060a24181e4000");
    const unite = drasyl.packets.find((p) => p.name.startsWith("UNITE"));
    expect(
      bytesToHex(
        encodeUnite(ident("id_3").publicKey, [
          { address: "192.168.1.20", port: 22527 },
          { address: "198.51.100.7", port: 40000 },
        ]),
      ),
    ).toBe(unite?.plaintextBody);
  });
});

describe("endpoints", () => {
  it("round-trips IPv4 (mapped) and IPv6", () => {
    const eps = [
      { address: "10.0.0.1", port: 1 },
      { address: "2001:db8::1", port: 65535 },
    ];
    const bytes = encodeEndpoints(eps);
    expect(bytes.length).toBe(36);
    expect(bytesToHex(bytes.subarray(2, 18))).toBe("00000000000000000000ffff0a000001");
    expect(decodeEndpoints(bytes)).toEqual(eps);
    expect(eps.map(formatEndpoint)).toEqual(["10.0.0.1:1", "[2001:db8::1]:65535"]);
  });

  it("skips port 0, collapses duplicates and ignores a trailing partial entry", () => {
    const bytes = encodeEndpoints([
      { address: "10.0.0.1", port: 0 },
      { address: "10.0.0.2", port: 5 },
      { address: "10.0.0.2", port: 5 },
    ]);
    const withTail = new Uint8Array(bytes.length + 7);
    withTail.set(bytes);
    expect(decodeEndpoints(withTail)).toEqual([{ address: "10.0.0.2", port: 5 }]);
  });

  it("HELLO drops endpoints past 15 instead of refusing", () => {
    const many = Array.from({ length: 20 }, (_, i) => ({ address: `10.0.0.${i + 1}`, port: 1000 + i }));
    const hello = decodeHelloSuperPeer(encodeHelloSuperPeer(5n, many));
    if (!hello.ok) throw new Error(hello.reason);
    expect(hello.value.endpoints.length).toBe(15);
    expect(hello.value.endpointBytes.length).toBe(15 * 18);
  });

  it("HELLO rejects zero child time, short bodies and partial endpoints", () => {
    expect(decodeHelloSuperPeer(encodeHelloSuperPeer(5n, [], 0n))).toEqual({ ok: false, reason: "child_time_invalid" });
    expect(decodeHelloSuperPeer(new Uint8Array(15))).toEqual({ ok: false, reason: "body_too_short" });
    const partial = new Uint8Array(16 + 17);
    partial[15] = 1;
    expect(decodeHelloSuperPeer(partial)).toEqual({ ok: false, reason: "endpoints_invalid" });
  });

  it("UNITE truncates to 16 endpoints", () => {
    const many = Array.from({ length: 20 }, (_, i) => ({ address: `10.0.1.${i + 1}`, port: 2000 + i }));
    const u = decodeUnite(encodeUnite(ident("id_2").publicKey, many));
    if (!u.ok) throw new Error(u.reason);
    expect(u.value.endpoints.length).toBe(16);
  });

  it("node HELLO has prefix semantics", () => {
    const body = new Uint8Array(20);
    body.set(encodeHelloNodePeer(7n, new Uint8Array([1, 2, 3, 4])));
    const h = decodeMessage(
      {
        hopCount: 0,
        armed: false,
        networkId: 1,
        recipient: ident("id_2").publicKey,
        sender: ident("id_3").publicKey,
        pow: 0,
        type: MessageType.Hello,
      },
      body,
      "node-peer",
    );
    expect(
      h.ok && h.value.type === MessageType.Hello && h.value.kind === "node-peer" && Array.from(h.value.shortId),
    ).toEqual([1, 2, 3, 4]);
  });
});

describe("headers", () => {
  it("rejects short, wrong magic and unknown types with typed reasons", () => {
    const pkt = hexToBytes(drasyl.packets[1]?.packet ?? "");
    expect(openPacket(pkt.subarray(0, HEADER_LEN - 1), undefined)).toEqual({ ok: false, reason: "too_short" });
    const wrongMagic = pkt.slice();
    wrongMagic[0] = 0;
    expect(openPacket(wrongMagic, undefined)).toEqual({ ok: false, reason: "magic_invalid" });
    const wrongType = pkt.slice();
    wrongType[78] = 4;
    expect(openPacket(wrongType, undefined)).toEqual({ ok: false, reason: "type_invalid" });
  });

  it("refuses an armed packet without a key and a short armed body", () => {
    const armed = hexToBytes(drasyl.packets[0]?.packet ?? "");
    expect(openPacket(armed, undefined)).toEqual({ ok: false, reason: "no_session_key" });
    expect(openPacket(armed.subarray(0, HEADER_LEN + 47), new Uint8Array(32))).toEqual({
      ok: false,
      reason: "arm_too_short",
    });
    expect(openPacket(armed.slice(), new Uint8Array(32))).toEqual({ ok: false, reason: "tag_invalid" });
  });
});
