import { randomFillSync } from "node:crypto";
import { ed25519PublicToX25519 } from "../crypto/keys.ts";
import { computeSessionKeys } from "../crypto/session.ts";
import type { Identity } from "../identity/identity.ts";
import { isValidPow } from "../identity/pow.ts";
import { ARMED_BODY_START, armPacketAt, disarmPacketAt } from "../wire/arming.ts";
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
import { PairTable } from "./pair-table.ts";
import { PeerCounter, PeerTable } from "./peer-table.ts";
import { type SharedState, sharedState, statsOf, T, TOTALS, type Totals } from "./shared-state.ts";
import type { TcpLink, UdpSender } from "./transport.ts";

const RANDOM_POOL = 32 * 1024;
/** Upper bound on live (sender, recipient) UNITE records, whatever the relay pattern. */
const MAX_UNITE_RECORDS_PER_PEER = 4096;

export type SuperPeerOptions = Pick<
  SuperPeerConfig,
  "networkId" | "armMessages" | "sendUnites" | "maxPeers" | "minPowDifficulty" | "helloTimeout" | "helloMaxAge"
>;

export type { Totals } from "./shared-state.ts";

/**
 * The super peer's packet logic (protocol.md s5), independent of sockets: transports hand every
 * datagram or TCP frame to handlePacket with where it came from, and it answers through the same
 * transport. Rejections are counted by reason and never thrown.
 *
 * Peers live in a PeerTable and are handled by slot number; the packet path opens and seals in
 * place and allocates nothing but the answer it sends.
 *
 * With DRASYL_WORKERS > 1 each worker thread runs its own SuperPeer over the same SharedState,
 * with its own UDP sockets on the same port: a peer is one slot whoever handles its packets.
 * TCP connections belong to the main thread (worker 0); other workers hand packets for a TCP peer
 * to it through `forwardTcp`.
 */
export class SuperPeer {
  readonly peers: PeerTable;
  readonly pairs: PairTable;
  readonly drops: DropCounters;
  readonly shared: SharedState;
  readonly worker: number;
  /** The main thread's TCP connections by id; undefined on other workers. */
  tcpLinks: Map<number, TcpLink> | undefined;
  /** How a worker without the TCP connections sends to a TCP peer. */
  forwardTcp: ((linkId: number, pkt: Uint8Array) => void) | undefined;
  /** Every worker's counters (views into the shared stats buffer), made once: metrics read them all. */
  private readonly workerStats: { totals: Float64Array; drops: Float64Array }[];
  /** This worker's totals, indexed by T. */
  private readonly stats: Float64Array;
  /** This worker's UDP sockets by family (IPv4, IPv6): any socket of the port answers for all of them. */
  private readonly udpOut: (UdpSender | undefined)[] = [undefined, undefined];
  /** With several workers: per slot, gen + 1 of a peer housekeeping found without a HELLO (see there). */
  private readonly withoutHello: Float64Array;
  private readonly identity: Identity;
  private readonly opts: SuperPeerOptions;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly pool = new Uint8Array(RANDOM_POOL);
  private poolPos = RANDOM_POOL;
  private readonly unite = new Uint8Array(UNITE_FIXED_LEN + UNITE_MAX_ENDPOINTS * ENDPOINT_LEN);

  constructor(
    identity: Identity,
    opts: SuperPeerOptions,
    log: Logger,
    now: () => number = Date.now,
    shared: SharedState = sharedState(opts.maxPeers),
    worker = 0,
  ) {
    this.identity = identity;
    this.opts = opts;
    this.log = log;
    this.now = now;
    this.shared = shared;
    this.worker = worker;
    this.peers = new PeerTable(shared.peers, worker);
    this.pairs = new PairTable(shared.pairs, this.peers.lock);
    this.workerStats = Array.from({ length: shared.workers }, (_, w) => statsOf(shared, w));
    this.stats = (this.workerStats[worker] as { totals: Float64Array }).totals;
    this.drops = new DropCounters(
      this.workerStats.map((w) => w.drops),
      worker,
    );
    this.withoutHello = new Float64Array(shared.workers > 1 && worker === 0 ? this.peers.capacity : 0);
  }

  /** Every worker's totals summed. */
  get totals(): Totals {
    const sum = Object.fromEntries(TOTALS.map((t) => [t, 0])) as Totals;
    for (const { totals } of this.workerStats) for (const t of TOTALS) sum[t] += totals[T[t]] as number;
    return sum;
  }

  /** UDP datagrams received, per worker. */
  workerPackets(): number[] {
    return this.workerStats.map(({ totals }) => totals[T.udpPackets] as number);
  }

  /** Registers one of this worker's UDP sockets, through which it answers peers of that family. */
  addUdp(udp: UdpSender): void {
    this.udpOut[udp.name === "udp6" ? 1 : 0] = udp;
  }

  private bump(t: number, by = 1): void {
    this.stats[t] = (this.stats[t] as number) + by;
  }

  get publicKey(): Uint8Array {
    return this.identity.publicKey;
  }

  /** Returns why the packet was dropped, or undefined when it was handled. */
  handleUdp(pkt: Buffer, udp: UdpSender, address: string, port: number): DropReason | undefined {
    this.bump(T.udpPackets);
    return this.count(this.handle(pkt, udp, address, port, undefined));
  }

  handleTcp(pkt: Buffer, link: TcpLink): DropReason | undefined {
    return this.count(this.handle(pkt, undefined, link.remoteAddress, link.remotePort, link));
  }

  private count(reason: DropReason | undefined): DropReason | undefined {
    if (reason !== undefined) this.drops.add(reason);
    return reason;
  }

  private handle(
    pkt: Buffer,
    udp: UdpSender | undefined,
    address: string,
    port: number,
    tcp: TcpLink | undefined,
  ): DropReason | undefined {
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

  private handleOwn(
    pkt: Buffer,
    udp: UdpSender | undefined,
    address: string,
    port: number,
    tcp: TcpLink | undefined,
  ): DropReason | undefined {
    const armed = ((pkt[OFF_FLAGS] as number) & FLAG_ARMED) !== 0;
    if (armed !== this.opts.armMessages) return armed ? "message_armed" : "message_unarmed";
    const peers = this.peers;
    let slot = peers.find(pkt, OFF_SENDER);
    if (slot < 0) {
      // Checked again under the lock by insert; this spares the key exchange when the table is full.
      if (peers.size >= this.peerLimit()) return "capacity_exceeded";
      const created = this.createPeer(pkt);
      if (typeof created === "string") return created;
      slot = created;
    }
    if (!peers.validPow(slot)) return "pow_invalid";
    if (pkt[OFF_TYPE] !== MessageType.Hello) return "message_type_unexpected";

    let bodyStart = HEADER_LEN;
    if (armed) {
      // Keys exist for every valid-PoW peer when arming is on (createPeer).
      const bad = disarmPacketAt(pkt, peers.rxKeys, slot * 32);
      if (bad !== undefined) return bad;
      bodyStart = ARMED_BODY_START;
    }
    const bodyLen = Math.min(pkt.length - bodyStart, HELLO_SP_MAX_LEN);
    if (bodyLen < HELLO_SP_FIXED_LEN) return "body_too_short";
    if (readU32(pkt, bodyStart + 8) === 0 && readU32(pkt, bodyStart + 12) === 0) return "child_time_invalid";
    if ((bodyLen - HELLO_SP_FIXED_LEN) % ENDPOINT_LEN !== 0) return "endpoints_invalid";

    // Doubles are exact to 2^53 µs (year 2255); beyond that, precision loss cannot make a stale HELLO fresh.
    const helloMicros = readU32(pkt, bodyStart) * 0x1_0000_0000 + readU32(pkt, bodyStart + 4);
    const now = this.now();
    const ageMicros = now * 1000 - helloMicros;
    const maxAgeMicros = this.opts.helloMaxAge * 1000;
    if (ageMicros > maxAgeMicros) return "hello_too_old";
    if (-ageMicros > maxAgeMicros) return "hello_in_future";

    // The last HELLO wins, across transports and families, as in Rust.
    peers.helloAt[slot] = now;
    peers.setEndpoints(slot, pkt, bodyStart + HELLO_SP_FIXED_LEN, bodyStart + bodyLen);
    if (tcp) peers.setTcpSource(slot, tcp.id, tcp.v6Socket, address, port);
    else if (udp) peers.setUdpSource(slot, udp.name === "udp6", address, port);
    peers.count(slot, PeerCounter.HelloRx);
    this.bump(T.helloRx);

    const ack = this.packet(slot, MessageType.Ack, ACK_LEN);
    const off = ack.length - ACK_LEN;
    for (let i = 0; i < ACK_LEN; i++) ack[off + i] = pkt[bodyStart + i] as number;
    this.seal(ack, slot);
    // Back the way the HELLO came, not to the peer's recorded source: with workers, a HELLO over the
    // other transport may have rewritten that source since this one was handled.
    if (tcp ? this.sendTcp(tcp.id, ack) : this.sendUdp(udp, ack, address, port)) {
      peers.count(slot, PeerCounter.AckTx);
      this.bump(T.ackTx);
    }
    return undefined;
  }

  private createPeer(pkt: Buffer): number | DropReason {
    const pk = pkt.subarray(OFF_SENDER, OFF_SENDER + 32);
    const validPow = isValidPow(pk, readI32(pkt, OFF_POW), this.opts.minPowDifficulty);
    let session;
    if (validPow && this.opts.armMessages) {
      try {
        session = computeSessionKeys(this.identity.xPublic, this.identity.xSecret, ed25519PublicToX25519(pk));
      } catch {
        return "public_key_invalid";
      }
    }
    // Invalid-PoW peers are kept like Rust does, so a repeat offender costs one lookup, not a hash;
    // they never get a HELLO time, so the next housekeeping tick removes them.
    const slot = this.peers.insert(pkt, OFF_SENDER, validPow, session, this.peerLimit());
    if (slot < 0) return "capacity_exceeded";
    if (this.log.enabled("debug"))
      this.log.debug("new peer", { peer: this.peers.view(slot).publicKeyHex, pow: validPow ? "ok" : "invalid" });
    return slot;
  }

  /** MAX_PEERS, or the table's capacity when it is 0 (unlimited). */
  private peerLimit(): number {
    return this.opts.maxPeers > 0 ? this.opts.maxPeers : this.peers.capacity;
  }

  private relay(pkt: Buffer): DropReason | undefined {
    if (pkt[OFF_TYPE] !== MessageType.App) return "message_type_unexpected";
    const peers = this.peers;
    const sender = peers.find(pkt, OFF_SENDER);
    if (sender >= 0) peers.count(sender, PeerCounter.AppRx);
    this.bump(T.appRx);
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
    const recipient = peers.findSure(pkt, OFF_RECIPIENT);
    if (recipient < 0) return "recipient_unknown";
    if (peers.helloAt[recipient] === 0) return "recipient_no_hello";
    // A TCP frame can be up to 64 KiB, more than fits in one datagram (EMSGSIZE would come back asynchronously, uncounted).
    if (
      pkt.length > MAX_UDP4_PAYLOAD &&
      !peers.isTcp(recipient) &&
      (peers.ipVersion(recipient) === "ipv4" || pkt.length > MAX_UDP6_PAYLOAD)
    )
      return "udp_payload_too_large";

    // Byte 4 is outside the AEAD, so the end-to-end tag stays valid.
    pkt[OFF_HOP_COUNT] = hop + 1;
    if (!this.sendTo(recipient, pkt)) return "recipient_unreachable";
    peers.count(recipient, PeerCounter.AppTx);
    this.bump(T.appTx);
    this.bump(T.relayedBytes, pkt.length);
    if (sender >= 0) {
      const e = this.pairs.entry(sender, recipient);
      if (e < 0) return undefined;
      this.pairs.bytes[e] = (this.pairs.bytes[e] as number) + pkt.length;
      this.tryUnite(sender, recipient, e);
    }
    return undefined;
  }

  /**
   * Rate limit keyed by the pair in both directions; the unit is ms throughout (Rust mixes in µs).
   * Decided under the shared lock, so two workers relaying the same pair send one set of UNITEs.
   */
  private tryUnite(sender: number, recipient: number, e: number): void {
    const every = this.opts.sendUnites;
    if (every < 0 || this.peers.helloAt[sender] === 0) return;
    const now = this.now();
    if (every > 0) {
      const pairs = this.pairs;
      const seen = pairs.unitedAt[e] as number;
      if (seen !== 0 && now - seen < every) return;
      pairs.lock.acquire();
      try {
        // Looked up again: a sweep on the main thread may have moved the entry since.
        const fwd = pairs.entryLocked(sender, recipient);
        const back = pairs.entryLocked(recipient, sender);
        if (fwd < 0 || back < 0) return;
        const last = pairs.unitedAt[fwd] as number;
        if (last !== 0 && now - last < every) return;
        const records = this.peers.uniteRecords;
        // A record that is only being renewed does not count twice.
        const newForward = last === 0 ? 1 : 0;
        const newBack = pairs.unitedAt[back] === 0 ? 1 : 0;
        if (
          (records[sender] as number) + newForward > MAX_UNITE_RECORDS_PER_PEER ||
          (records[recipient] as number) + newBack > MAX_UNITE_RECORDS_PER_PEER
        )
          return;
        records[sender] = (records[sender] as number) + newForward;
        records[recipient] = (records[recipient] as number) + newBack;
        pairs.unitedAt[fwd] = now;
        pairs.unitedAt[back] = now;
      } finally {
        pairs.lock.release();
      }
    }
    this.sendUnite(sender, recipient);
    this.sendUnite(recipient, sender);
  }

  private sendUnite(to: number, about: number): void {
    const body = this.unite;
    const peers = this.peers;
    const keys = peers.publicKeys;
    for (let i = 0; i < 32; i++) body[i] = keys[about * 32 + i] as number;
    const len = UNITE_FIXED_LEN + peers.contactCandidates(about, body, UNITE_FIXED_LEN);
    const pkt = this.packet(to, MessageType.Unite, len);
    const off = pkt.length - len;
    for (let i = 0; i < len; i++) pkt[off + i] = body[i] as number;
    this.seal(pkt, to);
    if (this.sendTo(to, pkt)) {
      peers.count(to, PeerCounter.UniteTx);
      this.bump(T.uniteTx);
    }
  }

  /** A packet from us to slot `to`, header written, room for an armed body of `bodyLen` bytes. */
  private packet(to: number, type: MessageType, bodyLen: number): Buffer {
    const armed = this.peers.hasSession(to);
    const pkt = Buffer.allocUnsafe(HEADER_LEN + (armed ? ARM_HEADER_LEN : 0) + bodyLen);
    writeU32(pkt, 0, MAGIC);
    pkt[OFF_HOP_COUNT] = 0;
    pkt[OFF_FLAGS] = armed ? FLAG_ARMED : 0;
    writeU32(pkt, OFF_NETWORK_ID, this.opts.networkId);
    const keys = this.peers.publicKeys;
    const me = this.identity.publicKey;
    for (let i = 0; i < 32; i++) {
      pkt[OFF_RECIPIENT + i] = keys[to * 32 + i] as number;
      pkt[OFF_SENDER + i] = me[i] as number;
    }
    writeU32(pkt, OFF_POW, this.identity.pow);
    pkt[OFF_TYPE] = type;
    return pkt;
  }

  private seal(pkt: Buffer, to: number): void {
    if (!this.peers.hasSession(to)) return;
    if (this.poolPos + 32 > RANDOM_POOL) {
      randomFillSync(this.pool);
      this.poolPos = 0;
    }
    armPacketAt(pkt, this.peers.txKeys, to * 32, this.pool, this.poolPos);
    this.poolPos += 32;
  }

  private sendTo(slot: number, pkt: Uint8Array): boolean {
    const peers = this.peers;
    if (peers.isTcp(slot)) return this.sendTcp(peers.tcpLink[slot] as number, pkt);
    return this.sendUdp(
      this.udpOut[peers.onV6Socket(slot) ? 1 : 0],
      pkt,
      peers.address(slot),
      peers.port[slot] as number,
    );
  }

  private sendUdp(udp: UdpSender | undefined, pkt: Uint8Array, address: string, port: number): boolean {
    if (udp === undefined) return false;
    udp.send(pkt, port, address);
    return true;
  }

  /** Sends over the TCP connection `linkId`: directly on the main thread, else through it. */
  sendTcp(linkId: number, pkt: Uint8Array): boolean {
    const links = this.tcpLinks;
    if (links === undefined) {
      if (this.forwardTcp === undefined) return false;
      this.forwardTcp(linkId, pkt);
      return true;
    }
    const link = links.get(linkId);
    if (link === undefined || link.closed) return false;
    if (!link.send(pkt)) {
      this.drops.add("tcp_backpressure");
      return false;
    }
    link.lastActivity = this.now();
    return true;
  }

  /** Evicts silent peers and expired UNITE records (protocol.md s5.3, units fixed). Main thread only. */
  housekeeping(): void {
    const now = this.now();
    const deadline = now - this.opts.helloTimeout;
    const peers = this.peers;
    const debug = this.log.enabled("debug");
    for (let slot = 0; slot < peers.highWater; slot++) {
      if (!peers.isUsed(slot)) continue;
      const helloAt = peers.helloAt[slot] as number;
      if (helloAt === 0 && this.withoutHello.length > 0) {
        // Another worker may have added the peer a moment ago and not yet stored its HELLO time:
        // a peer without one goes at the second tick that finds it so.
        const mark = (peers.gen[slot] as number) + 1;
        if (this.withoutHello[slot] !== mark) {
          this.withoutHello[slot] = mark;
          continue;
        }
      }
      if (helloAt === 0 || helloAt < deadline) {
        if (helloAt !== 0) {
          this.bump(T.evicted);
          if (debug) this.log.debug("peer evicted", { peer: peers.view(slot).publicKeyHex, silentMs: now - helloAt });
        }
        peers.remove(slot);
      }
    }
    const records = peers.uniteRecords;
    this.pairs.sweep(
      (slot) => peers.isUsed(slot),
      now,
      this.opts.sendUnites,
      (slot) => {
        records[slot] = (records[slot] as number) - 1;
      },
    );
  }
}
