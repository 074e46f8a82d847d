import { ARMED_BODY_START, armPacket, disarmPacket } from "./arming.ts";
import { ARM_HEADER_LEN, HEADER_LEN, MessageType } from "./constants.ts";
import { type LongHeader, parseHeader, writeHeader } from "./header.ts";
import {
  decodeAck,
  decodeHelloNodePeer,
  decodeHelloSuperPeer,
  decodeUnite,
  type HelloNodePeer,
  type HelloSuperPeer,
  type Unite,
} from "./messages.ts";
import { accept, type Result, reject } from "./result.ts";

export interface BuildOptions {
  /** The sender's tx session key with the recipient; omit for an unarmed packet. */
  txKey?: Uint8Array;
  /** The 32 random bytes of the arming; fresh from the OS unless given (test vectors). */
  random?: Uint8Array;
}

export type HeaderFields = Omit<LongHeader, "armed">;

export function buildPacket(header: HeaderFields, body: Uint8Array, options: BuildOptions = {}): Uint8Array {
  const armed = options.txKey !== undefined;
  const start = armed ? ARMED_BODY_START : HEADER_LEN;
  const pkt = new Uint8Array(start + body.length);
  writeHeader(pkt, { ...header, armed });
  pkt.set(body, start);
  if (options.txKey) armPacket(pkt, options.txKey, options.random);
  return pkt;
}

export interface OpenedPacket {
  header: LongHeader;
  body: Uint8Array;
}

/**
 * Header check plus disarming. Unlike the Rust node, an armed packet without a key is refused
 * rather than parsed as plaintext; whether unarmed packets are acceptable is the caller's policy.
 * Decrypts in place.
 */
export function openPacket(pkt: Uint8Array, rxKey: Uint8Array | undefined): Result<OpenedPacket> {
  const h = parseHeader(pkt);
  if (!h.ok) return h;
  const header = h.value;
  if (!header.armed) return accept({ header, body: pkt.subarray(HEADER_LEN) });
  if (rxKey === undefined) return reject("no_session_key");
  if (pkt.length < HEADER_LEN + ARM_HEADER_LEN) return reject("arm_too_short");
  const body = disarmPacket(pkt, rxKey);
  if (!body.ok) return body;
  return accept({ header, body: body.value });
}

export type Message =
  | { type: typeof MessageType.Ack; time: bigint }
  | { type: typeof MessageType.App; payload: Uint8Array }
  | ({ type: typeof MessageType.Hello; kind: "super-peer" } & HelloSuperPeer)
  | ({ type: typeof MessageType.Hello; kind: "node-peer" } & HelloNodePeer)
  | ({ type: typeof MessageType.Unite } & Unite);

/** Which HELLO layout applies is not on the wire: the receiver decides by who it is (protocol.md s2.3). */
export type HelloKind = "super-peer" | "node-peer";

export function decodeMessage(header: LongHeader, body: Uint8Array, helloKind: HelloKind): Result<Message> {
  switch (header.type) {
    case MessageType.Ack: {
      const r = decodeAck(body);
      return r.ok ? accept({ type: MessageType.Ack, time: r.value }) : r;
    }
    case MessageType.App:
      return accept({ type: MessageType.App, payload: body });
    case MessageType.Hello: {
      if (helloKind === "super-peer") {
        const r = decodeHelloSuperPeer(body);
        return r.ok ? accept({ type: MessageType.Hello, kind: "super-peer", ...r.value }) : r;
      }
      const r = decodeHelloNodePeer(body);
      return r.ok ? accept({ type: MessageType.Hello, kind: "node-peer", ...r.value }) : r;
    }
    case MessageType.Unite: {
      const r = decodeUnite(body);
      return r.ok ? accept({ type: MessageType.Unite, ...r.value }) : r;
    }
  }
}
