import { createSocket } from "node:dgram";
import { lookup } from "node:dns/promises";
import { connect, isIP } from "node:net";
import { performance } from "node:perf_hooks";
import { ed25519PublicToX25519 } from "../crypto/keys.ts";
import { computeSessionKeys } from "../crypto/session.ts";
import type { Identity } from "../identity/identity.ts";
import { bytesEqual, bytesToHex } from "../util/hex.ts";
import { MessageType } from "../wire/constants.ts";
import { hostPort } from "../wire/endpoints.ts";
import { encodeHelloSuperPeer, nowMicros } from "../wire/messages.ts";
import { buildPacket, decodeMessage, openPacket } from "../wire/packet.ts";
import type { SuperPeerAddress } from "./super-peer-url.ts";

export type Transport = "udp" | "tcp";

export type ProbeResult = { ok: true; rttMs: number } | { ok: false; error: string };

export interface ProbeOptions {
  networkId: number;
  /** Whether the super peer arms (encrypts) control messages; it drops HELLOs that differ. */
  arm: boolean;
  timeoutMs: number;
}

/**
 * One HELLO to a super peer over UDP or TCP, answered by an ACK that echoes its time, from the
 * expected key, in the expected network. `identity` is the prober's own node identity: a super peer
 * ignores HELLOs with weaker proof of work than its minimum, so it must be a mined one.
 */
export async function probeSuperPeer(
  identity: Identity,
  sp: SuperPeerAddress,
  transport: Transport,
  opts: ProbeOptions,
): Promise<ProbeResult> {
  const port = transport === "udp" ? sp.port : sp.tcpPort;
  const where = `${bytesToHex(sp.publicKey).slice(0, 16)}… at ${hostPort(sp.host, port)} over ${transport.toUpperCase()}`;
  let address: string;
  try {
    address = isIP(sp.host) !== 0 ? sp.host : (await lookup(sp.host)).address;
  } catch (e) {
    return {
      ok: false,
      error: `${sp.host} does not resolve (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    };
  }
  const session = computeSessionKeys(identity.xPublic, identity.xSecret, ed25519PublicToX25519(sp.publicKey));
  const time = nowMicros();
  const header = {
    hopCount: 0,
    networkId: opts.networkId,
    recipient: sp.publicKey,
    sender: identity.publicKey,
    pow: identity.pow,
    type: MessageType.Hello,
  };
  const hello = buildPacket(header, encodeHelloSuperPeer(time, []), opts.arm ? { txKey: session.tx } : {});

  let unexpected: string | undefined;
  /** Whether `pkt` is our ACK; anything else is remembered, so a timeout can say what did come back. */
  const isAck = (pkt: Uint8Array): boolean => {
    const opened = openPacket(pkt, session.rx);
    if (!opened.ok) return ((unexpected = `an undecodable answer (${opened.reason})`), false);
    const h = opened.value.header;
    if (!bytesEqual(h.sender, sp.publicKey))
      return ((unexpected = `an answer from another key, ${bytesToHex(h.sender)}`), false);
    if (h.networkId !== opts.networkId)
      return ((unexpected = `an answer for network ${h.networkId}, not ${opts.networkId}`), false);
    if (!bytesEqual(h.recipient, identity.publicKey) || h.armed !== opts.arm)
      return ((unexpected = "an answer not addressed to this probe"), false);
    const m = decodeMessage(h, opened.value.body, "node-peer");
    return m.ok && m.value.type === MessageType.Ack && m.value.time === time;
  };

  const started = performance.now();
  return new Promise<ProbeResult>((resolve) => {
    let close = (): void => {};
    let settled = false;
    const settle = (r: ProbeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      close();
      resolve(r);
    };
    const timer = setTimeout(() => {
      settle({
        ok: false,
        error: `no ACK from ${where} within ${opts.timeoutMs} ms${unexpected ? `; got ${unexpected}` : ""}`,
      });
    }, opts.timeoutMs);
    const onPacket = (pkt: Uint8Array): void => {
      if (isAck(pkt)) settle({ ok: true, rttMs: performance.now() - started });
    };
    const fail = (e: Error): void => settle({ ok: false, error: `${where}: ${e.message}` });

    if (transport === "udp") {
      const socket = createSocket(isIP(address) === 6 ? "udp6" : "udp4");
      close = () => socket.close();
      socket.on("message", onPacket);
      socket.on("error", fail);
      socket.send(hello, port, address);
      return;
    }
    const socket = connect({ host: address, port, noDelay: true });
    close = () => socket.destroy();
    let buffered = Buffer.alloc(0);
    socket.on("error", fail);
    socket.once("connect", () => {
      // drasyl's TCP framing: a u16-BE length before each packet.
      const frame = Buffer.allocUnsafe(2 + hello.length);
      frame.writeUInt16BE(hello.length, 0);
      frame.set(hello, 2);
      socket.write(frame);
    });
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        const len = buffered.readUInt16BE(0);
        onPacket(buffered.subarray(2, 2 + len));
        buffered = buffered.subarray(2 + len);
      }
    });
    socket.once("close", () => settle({ ok: false, error: `${where}: the connection was closed before the ACK` }));
  });
}
