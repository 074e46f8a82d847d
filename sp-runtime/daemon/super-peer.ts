import { randomFillSync } from "node:crypto";
import { ed25519PublicToX25519 } from "../crypto/keys.ts";
import { computeSessionKeys } from "../crypto/session.ts";
import type { Identity } from "../identity/identity.ts";
import { isValidPow } from "../identity/pow.ts";
import { armPacket, disarmPacket } from "../wire/arming.ts";
import {
  ACK_LEN,
  ARM_HEADER_LEN,
  ENDPOINT_LEN,
  FLAG_ARMED,
  HEADER_LEN,
  HELLO_SP_FIXED_LEN,
  HELLO_SP_MAX_LEN,
  MAGIC,
  MAX_HOP_COUNT,
  MAX_UDP4_PAYLOAD,
  MAX_UDP6_PAYLOAD,
  MessageType,
  OFF_FLAGS,
  OFF_HOP_COUNT,
  OFF_NETWORK_ID,
  OFF_POW,
  OFF_RECIPIENT,
  OFF_SENDER,
  OFF_TYPE,
  UNITE_FIXED_LEN,
  UNITE_MAX_ENDPOINTS,
} from "../wire/constants.ts";
import { checkHeader, readI32, readU32, writeU32 } from "../wire/header.ts";
import type { SuperPeerConfig } from "./config.ts";
import { type DropReason, DropCounters } from "./drops.ts";
import type { Logger } from "./log.ts";
import { Peer } from "./peer.ts";
import type { TcpLink, UdpSender } from "./transport.ts";

const RANDOM_POOL = 32 * 1024;
/** Upper bound on live (sender, recipient) UNITE records, whatever the relay pattern. */
const MAX_UNITE_RECORDS_PER_PEER = 4096;

export type SuperPeerOptions = Pick<
  SuperPeerConfig,
  "networkId" | "armMessages" | "sendUnites" | "maxPeers" | "minPowDifficulty" | "helloTimeout" | "helloMaxAge"
>;

export interface Totals {
  helloRx: number;
  ackTx: number;
  appRx: number;
  appTx: number;
  uniteTx: number;
  relayedBytes: number;
  evicted: number;
}

/**
 * The super peer's packet logic (protocol.md s5), independent of sockets: transports hand every
 * datagram or TCP frame to handlePacket with where it came from, and it answers through the same
 * transport. Rejections are counted by reason and never thrown.
 */
export class SuperPeer {
  readonly peers = new Map<string, Peer>();
  readonly drops = new DropCounters();
  readonly totals: Totals = { helloRx: 0, ackTx: 0, appRx: 0, appTx: 0, uniteTx: 0, relayedBytes: 0, evicted: 0 };
  private readonly identity: Identity;
  private readonly opts: SuperPeerOptions;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly pool = new Uint8Array(RANDOM_POOL);
  private poolPos = RANDOM_POOL;
  private readonly unite = new Uint8Array(UNITE_FIXED_LEN + UNITE_MAX_ENDPOINTS * ENDPOINT_LEN);

  constructor(identity: Identity, opts: SuperPeerOptions, log: Logger, now: () => number = Date.now) {
    this.identity = identity;
    this.opts = opts;
    this.log = log;
    this.now = now;
  }

  get publicKey(): Uint8Array {
    return this.identity.publicKey;
  }

  /** Returns why the packet was dropped, or undefined when it was handled. */
  handleUdp(pkt: Buffer, udp: UdpSender, address: string, port: number): DropReason | undefined {
    return this.count(this.handle(pkt, udp, address, port, undefined));
  }

  handleTcp(pkt: Buffer, link: TcpLink): DropReason | undefined {
    return this.count(this.handle(pkt, undefined, link.remoteAddress, link.remotePort, link));
  }

  private count(reason: DropReason | undefined): DropReason | undefined {
    if (reason !== undefined) this.drops.add(reason);
    return reason;
  }

  private handle(pkt: Buffer, udp: UdpSender | undefined, address: string, port: number, tcp: TcpLink | undefined): DropReason | undefined {
    const bad = checkHeader(pkt);
    if (bad !== undefined) return bad;
    if (readI32(pkt, OFF_NETWORK_ID) !== this.opts.networkId) return "network_id_invalid";
    return this.isForMe(pkt) ? this.handleOwn(pkt, udp, address, port, tcp) : this.relay(pkt);
  }

  private isForMe(pkt: Uint8Array): boolean {
    const me = this.identity.publicKey;
    for (let i = 0; i < 32; i++) if (pkt[OFF_RECIPIENT + i] !== me[i]) return false;
    return true;
  }

  private handleOwn(pkt: Buffer, udp: UdpSender | undefined, address: string, port: number, tcp: TcpLink | undefined): DropReason | undefined {
    const armed = ((pkt[OFF_FLAGS] as number) & FLAG_ARMED) !== 0;
    if (armed !== this.opts.armMessages) return armed ? "message_armed" : "message_unarmed";
    const key = pkt.toString("latin1", OFF_SENDER, OFF_SENDER + 32);
    let peer = this.peers.get(key);
    if (peer === undefined) {
      if (this.opts.maxPeers > 0 && this.peers.size >= this.opts.maxPeers) return "capacity_exceeded";
      const created = this.createPeer(key, pkt);
      if (typeof created === "string") return created;
      peer = created;
    }
    if (!peer.validPow) return "pow_invalid";
    if (pkt[OFF_TYPE] !== MessageType.Hello) return "message_type_unexpected";

    let body: Uint8Array = pkt.subarray(HEADER_LEN);
    if (armed) {
      // Keys exist for every valid-PoW peer when arming is on (createPeer).
      const opened = disarmPacket(pkt, (peer.session as { rx: Uint8Array }).rx);
      if (!opened.ok) return opened.reason;
      body = opened.value;
    }
    if (body.length < HELLO_SP_FIXED_LEN) return "body_too_short";
    if (body.length > HELLO_SP_MAX_LEN) body = body.subarray(0, HELLO_SP_MAX_LEN);
    if (readU32(body, 8) === 0 && readU32(body, 12) === 0) return "child_time_invalid";
    if ((body.length - HELLO_SP_FIXED_LEN) % ENDPOINT_LEN !== 0) return "endpoints_invalid";

    // Doubles are exact to 2^53 µs (year 2255); beyond that, precision loss cannot make a stale HELLO fresh.
    const helloMicros = readU32(body, 0) * 0x1_0000_0000 + readU32(body, 4);
    const now = this.now();
    const ageMicros = now * 1000 - helloMicros;
    const maxAgeMicros = this.opts.helloMaxAge * 1000;
    if (ageMicros > maxAgeMicros) return "hello_too_old";
    if (-ageMicros > maxAgeMicros) return "hello_in_future";

    // The last HELLO wins, across transports and families, as in Rust.
    peer.helloAt = now;
    peer.setEndpoints(body.subarray(HELLO_SP_FIXED_LEN));
    if (tcp) peer.setTcpSource(tcp);
    else if (udp) peer.setUdpSource(udp, address, port);
    peer.helloRx++;
    this.totals.helloRx++;

    const ack = this.packet(peer, MessageType.Ack, ACK_LEN);
    const off = ack.length - ACK_LEN;
    for (let i = 0; i < ACK_LEN; i++) ack[off + i] = body[i] as number;
    this.seal(ack, peer);
    if (this.sendTo(peer, ack)) {
      peer.ackTx++;
      this.totals.ackTx++;
    }
    return undefined;
  }

  private createPeer(key: string, pkt: Buffer): Peer | DropReason {
    const pk = pkt.slice(OFF_SENDER, OFF_SENDER + 32);
    const validPow = isValidPow(pk, readI32(pkt, OFF_POW), this.opts.minPowDifficulty);
    let session;
    if (validPow && this.opts.armMessages) {
      try {
        session = computeSessionKeys(this.identity.xPublic, this.identity.xSecret, ed25519PublicToX25519(pk));
      } catch {
        return "public_key_invalid";
      }
    }
    const peer = new Peer(key, new Uint8Array(pk), validPow, session);
    // Invalid-PoW peers are kept like Rust does, so a repeat offender costs one lookup, not a hash;
    // they never get a HELLO time, so the next housekeeping tick removes them.
    this.peers.set(key, peer);
    this.log.debug("new peer", { peer: peer.publicKeyHex, pow: validPow ? "ok" : "invalid" });
    return peer;
  }

  private relay(pkt: Buffer): DropReason | undefined {
    if (pkt[OFF_TYPE] !== MessageType.App) return "message_type_unexpected";
    const sender = this.peers.get(pkt.toString("latin1", OFF_SENDER, OFF_SENDER + 32));
    if (sender) sender.appRx++;
    this.totals.appRx++;
    let same = true;
    for (let i = 0; i < 32; i++) {
      if (pkt[OFF_RECIPIENT + i] !== pkt[OFF_SENDER + i]) {
        same = false;
        break;
      }
    }
    if (same) return "loopback_forwarding";
    const hop = pkt[OFF_HOP_COUNT] as number;
    if (hop > MAX_HOP_COUNT) return "hop_limit_exceeded";
    const recipient = this.peers.get(pkt.toString("latin1", OFF_RECIPIENT, OFF_RECIPIENT + 32));
    if (recipient === undefined) return "recipient_unknown";
    if (recipient.helloAt === 0) return "recipient_no_hello";
    // A TCP frame can be up to 64 KiB, more than fits in one datagram (EMSGSIZE would come back asynchronously, uncounted).
    if (pkt.length > MAX_UDP4_PAYLOAD && recipient.prot === "udp" && (recipient.ipVersion === "ipv4" || pkt.length > MAX_UDP6_PAYLOAD)) return "udp_payload_too_large";

    // Byte 4 is outside the AEAD, so the end-to-end tag stays valid.
    pkt[OFF_HOP_COUNT] = hop + 1;
    if (!this.sendTo(recipient, pkt)) return "recipient_unreachable";
    recipient.appTx++;
    this.totals.appTx++;
    this.totals.relayedBytes += pkt.length;
    if (sender) {
      sender.relayedTo ??= new Map();
      sender.relayedTo.set(recipient, (sender.relayedTo.get(recipient) ?? 0) + pkt.length);
      this.tryUnite(sender, recipient);
    }
    return undefined;
  }

  /** Rate limit keyed by the pair in both directions; the unit is ms throughout (Rust mixes in µs). */
  private tryUnite(sender: Peer, recipient: Peer): void {
    const every = this.opts.sendUnites;
    if (every < 0 || sender.helloAt === 0) return;
    const now = this.now();
    if (every > 0) {
      const last = sender.unitedAt?.get(recipient);
      if (last !== undefined && now - last < every) return;
      sender.unitedAt ??= new Map();
      recipient.unitedAt ??= new Map();
      if (sender.unitedAt.size >= MAX_UNITE_RECORDS_PER_PEER || recipient.unitedAt.size >= MAX_UNITE_RECORDS_PER_PEER) return;
      sender.unitedAt.set(recipient, now);
      recipient.unitedAt.set(sender, now);
    }
    this.sendUnite(sender, recipient);
    this.sendUnite(recipient, sender);
  }

  private sendUnite(to: Peer, about: Peer): void {
    const body = this.unite;
    body.set(about.publicKey, 0);
    const len = UNITE_FIXED_LEN + about.contactCandidates(body, UNITE_FIXED_LEN);
    const pkt = this.packet(to, MessageType.Unite, len);
    pkt.set(body.subarray(0, len), pkt.length - len);
    this.seal(pkt, to);
    if (this.sendTo(to, pkt)) {
      to.uniteTx++;
      this.totals.uniteTx++;
    }
  }

  /** A packet from us to `to`, header written, room for an armed body of `bodyLen` bytes. */
  private packet(to: Peer, type: MessageType, bodyLen: number): Buffer {
    const armed = to.session !== undefined;
    const pkt = Buffer.allocUnsafe(HEADER_LEN + (armed ? ARM_HEADER_LEN : 0) + bodyLen);
    writeU32(pkt, 0, MAGIC);
    pkt[OFF_HOP_COUNT] = 0;
    pkt[OFF_FLAGS] = armed ? FLAG_ARMED : 0;
    writeU32(pkt, OFF_NETWORK_ID, this.opts.networkId);
    pkt.set(to.publicKey, OFF_RECIPIENT);
    pkt.set(this.identity.publicKey, OFF_SENDER);
    writeU32(pkt, OFF_POW, this.identity.pow);
    pkt[OFF_TYPE] = type;
    return pkt;
  }

  private seal(pkt: Buffer, to: Peer): void {
    if (to.session === undefined) return;
    if (this.poolPos + 32 > RANDOM_POOL) {
      randomFillSync(this.pool);
      this.poolPos = 0;
    }
    armPacket(pkt, to.session.tx, this.pool.subarray(this.poolPos, this.poolPos + 32));
    this.poolPos += 32;
  }

  private sendTo(peer: Peer, pkt: Buffer): boolean {
    if (peer.prot === "tcp") {
      const link = peer.tcp;
      if (link === undefined || link.closed) return false;
      if (!link.send(pkt)) {
        this.drops.add("tcp_backpressure");
        return false;
      }
      link.lastActivity = this.now();
      return true;
    }
    if (peer.udp === undefined) return false;
    peer.udp.send(pkt, peer.port, peer.address);
    return true;
  }

  /** Evicts silent peers and expired UNITE records (protocol.md s5.3, units fixed). */
  housekeeping(): void {
    const now = this.now();
    const deadline = now - this.opts.helloTimeout;
    for (const [key, peer] of this.peers) {
      if (peer.helloAt === 0 || peer.helloAt < deadline) {
        this.peers.delete(key);
        if (peer.helloAt !== 0) {
          this.totals.evicted++;
          this.log.debug("peer evicted", { peer: peer.publicKeyHex, silentMs: now - peer.helloAt });
        }
      }
    }
    const every = this.opts.sendUnites;
    for (const peer of this.peers.values()) {
      const united = peer.unitedAt;
      if (united) {
        for (const [other, at] of united) if (now - at >= every || this.peers.get(other.key) !== other) united.delete(other);
        if (united.size === 0) peer.unitedAt = undefined;
      }
      const relayed = peer.relayedTo;
      if (relayed) for (const other of relayed.keys()) if (this.peers.get(other.key) !== other) relayed.delete(other);
    }
  }
}
