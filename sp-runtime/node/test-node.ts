/**
 * A small drasyl node (protocol.md s4, s10) for the test suite, the load benchmark and the CLI's
 * health probe. It speaks the long header only: it never hands out a short id, so peers never
 * send it short-header packets.
 *
 * Deliberate differences from the Rust node:
 * - one UDP socket (not one per interface), super peer addresses resolved once in start();
 * - unarmed packets are refused when arming is on (the Rust node accepts them, s1.2);
 * - node-peer ACKs must echo a HELLO we sent, super peer ACKs must not echo a future time;
 * - relayed APPs always go to the first configured super peer, not the lowest-RTT one.
 */
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from "node:dgram";
import { lookup } from "node:dns/promises";
import { EventEmitter } from "node:events";
import { isIP, connect as netConnect, type Socket as TcpSocket } from "node:net";
import { performance } from "node:perf_hooks";
import ipaddr from "ipaddr.js";
import { ed25519PublicToX25519 } from "../crypto/keys.ts";
import { computeSessionKeys, type SessionKeys } from "../crypto/session.ts";
import type { Identity } from "../identity/identity.ts";
import { isValidPow } from "../identity/pow.ts";
import { bytesEqual, bytesToHex, hexToBytes } from "../util/hex.ts";
import { interfaceAddresses } from "../util/interface-addresses.ts";
import { disarmPacket } from "../wire/arming.ts";
import {
  ARM_HEADER_LEN,
  DEFAULT_NETWORK_ID,
  HEADER_LEN,
  HELLO_MAX_ENDPOINTS,
  MessageType,
  MTU,
} from "../wire/constants.ts";
import { type Endpoint, formatEndpoint } from "../wire/endpoints.ts";
import { type LongHeader, parseHeader } from "../wire/header.ts";
import { encodeAck, encodeHelloNodePeer, encodeHelloSuperPeer, type Unite } from "../wire/messages.ts";
import { buildPacket, decodeMessage } from "../wire/packet.ts";
import type { SuperPeerAddress } from "./super-peer-url.ts";

export type Transport = "udp" | "tcp";

export interface DrasylNodeOptions {
  identity: Identity;
  networkId?: number;
  /** Arm (encrypt) everything we send and refuse unarmed packets. Default true. */
  armMessages?: boolean;
  superPeers: SuperPeerAddress[];
  /** Local UDP binding. Default: the wildcard of the family the super peers need, OS-chosen port. */
  bind?: { address?: string; port?: number };
  /** Node-peer HELLOs and ACKs older than this are dropped. Default 60 000 (the example node's). */
  helloMaxAgeMs?: number;
  /** UDP silence towards a super peer after which the hello loop falls back to TCP. Default 30 000. */
  helloTimeoutMs?: number;
  /** What HELLOs report. Default: the bound address, or the usable interface addresses for a wildcard bind. */
  endpoints?: Endpoint[];
  /** The hello loop always keeps a TCP connection, and UDP ACKs do not drop it. Default false. */
  enforceTcp?: boolean;
  /** On UNITE, send HELLO_NODE_PEER to the listed endpoints. Default true. */
  processUnites?: boolean;
  /** Refuse node peers whose PoW is below this. Default 0: tests and benchmarks use cheap identities. */
  minPowDifficulty?: number;
  /** SO_RCVBUF / SO_SNDBUF for the UDP socket; the benchmark wants more than the OS default. */
  udpBufferSize?: number;
}

export interface HelloResult {
  rttMs: number;
  transport: Transport;
  /** Public key hex of the super peer that answered. */
  superPeer: string;
}

export interface NodeHelloResult {
  rttMs: number;
  /** Public key hex of the node peer that answered. */
  peer: string;
}

export interface AppEvent {
  sender: Uint8Array;
  payload: Uint8Array;
  hopCount: number;
  via: Transport;
}

export interface AckEvent {
  peer: Uint8Array;
  superPeer: boolean;
  transport: Transport;
  rttMs: number;
  remote: Endpoint;
}

export interface UniteEvent {
  address: Uint8Array;
  endpoints: Endpoint[];
  via: Transport;
  superPeer: Uint8Array;
}

export interface HelloEvent {
  peer: Uint8Array;
  remote: Endpoint;
  time: bigint;
}

export interface TcpStateEvent {
  superPeer: string;
  state: "connected" | "closed";
}

export type DrasylNodeEvents = {
  app: [AppEvent];
  ack: [AckEvent];
  unite: [UniteEvent];
  /** A node peer's HELLO that we answered. */
  hello: [HelloEvent];
  tcp: [TcpStateEvent];
  /** Send failures and socket errors; deliberately not "error", which would throw without a listener. */
  warning: [Error];
};

export interface SuperPeerStats {
  publicKey: string;
  host: string;
  port: number;
  tcpPort: number;
  /** Most recent RTT sample per transport. */
  rttMs: { udp?: number; tcp?: number };
  tcpConnected: boolean;
}

export interface DrasylNodeStats {
  superPeers: SuperPeerStats[];
  counters: DrasylNodeCounters;
  drops: Record<string, number>;
}

export interface DrasylNodeCounters {
  helloTx: number;
  ackTx: number;
  appTx: number;
  helloRx: number;
  ackRx: number;
  appRx: number;
  uniteRx: number;
  sendErrors: number;
}

interface SuperPeerState {
  readonly config: SuperPeerAddress;
  readonly hex: string;
  readonly session: SessionKeys;
  /** The resolved IP, as TCP connects to it and as TCP frames are attributed. */
  ip: string;
  /** `ip` in the UDP socket's family (IPv4-mapped on a udp6 socket), as rinfo reports it. */
  udpAddress: string;
  tcp?: TcpLink;
  tcpConnecting?: Promise<TcpLink>;
  /** performance.now() of the first HELLO since the last UDP ACK; undefined when answered. */
  udpUnansweredSince?: number;
  rttMs: { udp?: number; tcp?: number };
}

/** null: we will not talk to this key (not a curve point, our own key, or PoW too low). */
type PeerState = { session: SessionKeys; powOk?: boolean } | null;

interface PendingAck {
  peerHex: string;
  transport: Transport;
  /** Where the ACK should come from, so drops from there can explain a timeout. */
  address: string;
  port: number;
  timer: NodeJS.Timeout;
  /** Absent for fire-and-forget HELLOs (UNITE hole punching): the ACK is merely allowed. */
  settle?: { resolve: (rttMs: number) => void; reject: (err: Error) => void };
  dropped?: Map<string, number>;
}

const NO_SHORT_ID = new Uint8Array(4);
/** Bound on the per-peer session cache, so a flood of fresh sender keys cannot grow it forever. */
const MAX_PEERS = 8192;
const DEFAULT_HELLO_MAX_AGE_MS = 60_000;
const DEFAULT_HELLO_TIMEOUT_MS = 30_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;

/*
 * Wall-clock µs like Rust's, but advanced by the monotonic clock so an NTP step between a HELLO
 * and its ACK cannot produce a negative or absurd RTT.
 */
const CLOCK_ANCHOR_US = Date.now() * 1000 - performance.now() * 1000;
function clockMicros(): bigint {
  return BigInt(Math.floor(CLOCK_ANCHOR_US + performance.now() * 1000));
}

/** rinfo on a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; events show them plainly. */
function plainAddress(address: string): string {
  return address.startsWith("::ffff:") && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

function canonicalIp(address: string): string {
  return ipaddr.parse(address).toString();
}

function isWildcard(address: string): boolean {
  return address === "0.0.0.0" || address === "::";
}

/** One TCP connection to a super peer, with drasyl's u16-BE length framing (s1.5). */
class TcpLink {
  private partial: Buffer | undefined;

  constructor(
    readonly socket: TcpSocket,
    private readonly onFrame: (frame: Buffer) => void,
  ) {
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
  }

  send(pkt: Uint8Array): void {
    if (pkt.length > 0xffff) throw new RangeError(`packet of ${pkt.length} bytes does not fit a TCP frame`);
    const frame = Buffer.allocUnsafe(2 + pkt.length);
    frame.writeUInt16BE(pkt.length, 0);
    frame.set(pkt, 2);
    this.socket.write(frame);
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    const buf = this.partial === undefined ? chunk : Buffer.concat([this.partial, chunk]);
    let off = 0;
    while (buf.length - off >= 2) {
      const len = buf.readUInt16BE(off);
      if (buf.length - off - 2 < len) break;
      this.onFrame(buf.subarray(off + 2, off + 2 + len));
      off += 2 + len;
    }
    this.partial = off === buf.length ? undefined : buf.subarray(off);
  }
}

export class DrasylNode extends EventEmitter<DrasylNodeEvents> {
  readonly identity: Identity;
  readonly networkId: number;
  readonly armMessages: boolean;
  readonly helloMaxAgeMs: number;
  readonly helloTimeoutMs: number;
  readonly enforceTcp: boolean;
  readonly processUnites: boolean;
  readonly minPowDifficulty: number;
  /** Dropped inbound packets by reason (stable snake_case, e.g. "unarmed", "tag_invalid"). */
  readonly drops = new Map<string, number>();
  readonly counters: DrasylNodeCounters = {
    helloTx: 0,
    ackTx: 0,
    appTx: 0,
    helloRx: 0,
    ackRx: 0,
    appRx: 0,
    uniteRx: 0,
    sendErrors: 0,
  };

  private readonly opts: DrasylNodeOptions;
  private readonly superPeers: SuperPeerState[];
  private readonly superPeersByHex = new Map<string, SuperPeerState>();
  private readonly peers = new Map<string, PeerState>();
  /** Keyed by the HELLO time, which nextTime() keeps unique per node. */
  private readonly pending = new Map<bigint, PendingAck>();
  private readonly tcpSockets = new Set<TcpSocket>();
  private udp: UdpSocket | undefined;
  private udpFamily: 4 | 6 = 4;
  private ownEndpoints: Endpoint[] = [];
  private lastTime = 0n;
  private loopTimer: NodeJS.Timeout | undefined;
  private state: "new" | "starting" | "running" | "closed" = "new";

  constructor(opts: DrasylNodeOptions) {
    super();
    this.opts = opts;
    this.identity = opts.identity;
    this.networkId = opts.networkId ?? DEFAULT_NETWORK_ID;
    this.armMessages = opts.armMessages ?? true;
    this.helloMaxAgeMs = opts.helloMaxAgeMs ?? DEFAULT_HELLO_MAX_AGE_MS;
    this.helloTimeoutMs = opts.helloTimeoutMs ?? DEFAULT_HELLO_TIMEOUT_MS;
    this.enforceTcp = opts.enforceTcp ?? false;
    this.processUnites = opts.processUnites ?? true;
    this.minPowDifficulty = opts.minPowDifficulty ?? 0;
    // Session keys up front, like the Rust node: a bad super peer key is a configuration error.
    this.superPeers = opts.superPeers.map((config) => {
      const hex = bytesToHex(config.publicKey);
      const session = computeSessionKeys(
        this.identity.xPublic,
        this.identity.xSecret,
        ed25519PublicToX25519(config.publicKey),
      );
      return { config, hex, session, ip: config.host, udpAddress: config.host, rttMs: {} };
    });
    for (const sp of this.superPeers) this.superPeersByHex.set(sp.hex, sp);
  }

  get publicKeyHex(): string {
    return this.identity.publicKeyHex;
  }

  /** The bound UDP address and port; only after start(). */
  address(): Endpoint {
    const a = this.socket().address();
    return { address: plainAddress(a.address), port: a.port };
  }

  /** What our HELLOs report. */
  get endpoints(): readonly Endpoint[] {
    return this.ownEndpoints;
  }

  async start(): Promise<void> {
    if (this.state !== "new") throw new Error(`DrasylNode.start() called on a ${this.state} node`);
    this.state = "starting";
    try {
      await this.open();
      // close() may have been called while we were resolving or binding.
      if ((this.state as string) === "closed") {
        await this.closeUdp();
        throw new Error("DrasylNode was closed while starting");
      }
      this.state = "running";
    } catch (e) {
      if (this.state === "starting") {
        this.state = "closed";
        await this.closeUdp();
      }
      throw e;
    }
  }

  private async open(): Promise<void> {
    const bindAddress = this.opts.bind?.address;
    let family: 4 | 6 | undefined;
    if (bindAddress !== undefined) {
      const f = isIP(bindAddress);
      if (f === 0) throw new Error(`bind address "${bindAddress}" is not an IP address`);
      family = f as 4 | 6;
    }
    for (const sp of this.superPeers) sp.ip = await this.resolve(sp.config.host, family);
    family ??= this.superPeers.some((sp) => isIP(sp.ip) === 6) ? 6 : 4;
    this.udpFamily = family;
    for (const sp of this.superPeers) {
      sp.udpAddress = family === 6 && isIP(sp.ip) === 4 ? `::ffff:${sp.ip}` : sp.ip;
    }

    const size = this.opts.udpBufferSize;
    const socket = createSocket({
      type: family === 6 ? "udp6" : "udp4",
      ipv6Only: false,
      ...(size !== undefined ? { recvBufferSize: size, sendBufferSize: size } : {}),
    });
    this.udp = socket;
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(
        { address: bindAddress ?? (family === 6 ? "::" : "0.0.0.0"), port: this.opts.bind?.port ?? 0, exclusive: true },
        () => {
          socket.off("error", reject);
          resolve();
        },
      );
    });
    socket.on("error", (err) => this.warn(err));
    socket.on("message", (msg: Buffer, rinfo: RemoteInfo) => {
      try {
        this.handlePacket(msg, "udp", rinfo.address, rinfo.port);
      } catch (e) {
        this.drop("internal_error");
        this.warn(e);
      }
    });
    this.ownEndpoints = (this.opts.endpoints ?? this.defaultEndpoints()).slice(0, HELLO_MAX_ENDPOINTS);
  }

  /** IP literals as they are; names via the resolver, first address of the wanted family (s4.5). */
  private async resolve(host: string, family: 4 | 6 | undefined): Promise<string> {
    const literal = isIP(host);
    if (literal !== 0) {
      if (family === 4 && literal === 6)
        throw new Error(`super peer ${host} is IPv6 but the node binds IPv4 address ${this.opts.bind?.address}`);
      return canonicalIp(host);
    }
    const all = await lookup(host, { all: true, order: "verbatim" });
    // A udp6 socket reaches IPv4 too (dual stack), so only an IPv4 binding constrains the choice.
    const hit = all.find((a) => family !== 4 || a.family === 4);
    if (hit === undefined) throw new Error(`super peer host "${host}" has no ${family === 4 ? "IPv4 " : ""}address`);
    return canonicalIp(hit.address);
  }

  private defaultEndpoints(): Endpoint[] {
    const { address, port } = this.socket().address();
    if (!isWildcard(address)) return [{ address: plainAddress(address), port }];
    const { v4, v6 } = interfaceAddresses();
    return [...v4, ...(this.udpFamily === 6 ? v6 : [])].map((a) => ({ address: a, port }));
  }

  async close(): Promise<void> {
    if (this.state === "closed") return;
    this.state = "closed";
    this.stopHelloLoop();
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.settle?.reject(new Error("DrasylNode closed"));
    }
    this.pending.clear();
    const closing = [...this.tcpSockets].map((s) => {
      const closed = new Promise<void>((resolve) => s.once("close", () => resolve()));
      s.destroy();
      return closed;
    });
    await Promise.all([...closing, this.closeUdp()]);
  }

  private async closeUdp(): Promise<void> {
    const udp = this.udp;
    this.udp = undefined;
    if (udp === undefined) return;
    await new Promise<void>((resolve) => {
      try {
        udp.close(() => resolve());
      } catch {
        resolve(); // never bound: nothing to wait for
      }
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Super peers

  /** One HELLO_SUPER_PEER; resolves on the ACK echoing its time from that super peer's key. */
  async hello(
    sp: SuperPeerAddress | Uint8Array,
    transport: Transport = "udp",
    timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
  ): Promise<HelloResult> {
    this.requireRunning();
    const state = this.superPeer(sp);
    const started = performance.now();
    const link = transport === "tcp" ? await this.connectTcp(state, timeoutMs) : undefined;
    this.requireRunning(); // close() may have run while we were connecting
    const time = this.nextTime();
    const pkt = this.buildHelloSuperPeer(state, time);
    const address = transport === "tcp" ? state.ip : state.udpAddress;
    const port = transport === "tcp" ? state.config.tcpPort : state.config.port;
    const what = `super peer ${state.hex.slice(0, 16)}… at ${formatEndpoint({ address: state.ip, port })} over ${transport}`;
    const ack = this.expectAck(
      time,
      state.hex,
      transport,
      address,
      port,
      Math.max(0, timeoutMs - (performance.now() - started)),
      `${what} within ${timeoutMs} ms`,
    );
    if (link !== undefined) link.send(pkt);
    else this.udpSend(pkt, state.udpAddress, state.config.port);
    this.counters.helloTx++;
    return { rttMs: await ack, transport, superPeer: state.hex };
  }

  /** Periodic HELLOs to every super peer over UDP, with the TCP fallback of s4.6/s4.10. */
  startHelloLoop(intervalMs = 5000): void {
    this.requireRunning();
    if (this.loopTimer !== undefined) return;
    this.loopTimer = setInterval(() => this.tick(), intervalMs);
    this.tick();
  }

  stopHelloLoop(): void {
    clearInterval(this.loopTimer);
    this.loopTimer = undefined;
  }

  private tick(): void {
    if (this.state !== "running") return;
    for (const sp of this.superPeers) {
      try {
        const now = performance.now();
        let connect = false;
        if (sp.tcp === undefined && sp.tcpConnecting === undefined) {
          const stale = sp.udpUnansweredSince !== undefined && now - sp.udpUnansweredSince > this.helloTimeoutMs;
          if (this.enforceTcp || stale) {
            connect = true;
            // Rust drops the stale path and re-adds a fresh one, so a failed connect is retried
            // only after another full hello timeout; forgetting the start time does the same.
            sp.udpUnansweredSince = undefined;
          }
        }
        const pkt = this.buildHelloSuperPeer(sp, this.nextTime());
        this.udpSend(pkt, sp.udpAddress, sp.config.port);
        this.counters.helloTx++;
        sp.udpUnansweredSince ??= now;
        if (sp.tcp !== undefined) {
          sp.tcp.send(pkt);
          this.counters.helloTx++;
        } else if (connect) {
          this.connectTcp(sp, this.helloTimeoutMs).then(
            (link) => {
              link.send(pkt);
              this.counters.helloTx++;
            },
            (err: unknown) => this.warn(err),
          );
        }
      } catch (e) {
        this.warn(e);
      }
    }
  }

  private buildHelloSuperPeer(sp: SuperPeerState, time: bigint): Uint8Array {
    return this.build(
      sp.config.publicKey,
      MessageType.Hello,
      encodeHelloSuperPeer(time, this.ownEndpoints),
      this.armMessages ? sp.session.tx : undefined,
    );
  }

  private superPeer(sp: SuperPeerAddress | Uint8Array): SuperPeerState {
    const hex = bytesToHex(sp instanceof Uint8Array ? sp : sp.publicKey);
    const state = this.superPeersByHex.get(hex);
    if (state === undefined) throw new Error(`${hex} is not a configured super peer of this node`);
    return state;
  }

  private connectTcp(sp: SuperPeerState, timeoutMs: number): Promise<TcpLink> {
    if (sp.tcp !== undefined) return Promise.resolve(sp.tcp);
    if (sp.tcpConnecting !== undefined) return sp.tcpConnecting;
    const target = formatEndpoint({ address: sp.ip, port: sp.config.tcpPort });
    const bindAddress = this.opts.bind?.address;
    // Inside a network namespace the test binds a specific IP; TCP should leave from it too.
    const localAddress =
      bindAddress !== undefined && !isWildcard(bindAddress) && isIP(bindAddress) === isIP(sp.ip)
        ? bindAddress
        : undefined;
    const connecting = new Promise<TcpLink>((resolve, reject) => {
      const socket = netConnect({
        host: sp.ip,
        port: sp.config.tcpPort,
        noDelay: true,
        ...(localAddress ? { localAddress } : {}),
      });
      this.tcpSockets.add(socket);
      let link: TcpLink | undefined;
      const timer = setTimeout(() => {
        reject(
          new Error(`TCP connect to super peer ${sp.hex.slice(0, 16)}… at ${target} timed out after ${timeoutMs} ms`),
        );
        socket.destroy();
      }, timeoutMs);
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.setNoDelay(true);
        link = new TcpLink(socket, (frame) => {
          try {
            this.handlePacket(frame, "tcp", sp.ip, sp.config.tcpPort);
          } catch (e) {
            this.drop("internal_error");
            this.warn(e);
          }
        });
        sp.tcp = link;
        sp.tcpConnecting = undefined;
        this.emit("tcp", { superPeer: sp.hex, state: "connected" });
        resolve(link);
      });
      socket.on("error", (err) => {
        clearTimeout(timer);
        if (link !== undefined) this.warn(err);
        // Before "connect" this rejects the attempt; afterwards it is a no-op and "close" cleans up.
        reject(new Error(`TCP connection to super peer ${sp.hex.slice(0, 16)}… at ${target} failed: ${err.message}`));
      });
      socket.once("close", () => {
        clearTimeout(timer);
        this.tcpSockets.delete(socket);
        if (sp.tcpConnecting === connecting) sp.tcpConnecting = undefined;
        reject(new Error(`TCP connection to super peer ${sp.hex.slice(0, 16)}… at ${target} closed while connecting`));
        if (link !== undefined && sp.tcp === link) {
          sp.tcp = undefined;
          this.failPending(
            "tcp",
            sp.ip,
            sp.config.tcpPort,
            `TCP connection to super peer ${sp.hex.slice(0, 16)}… at ${target} closed before the ACK`,
          );
          if (this.state === "running") this.emit("tcp", { superPeer: sp.hex, state: "closed" });
        }
      });
    });
    sp.tcpConnecting = connecting;
    return connecting;
  }

  // ---------------------------------------------------------------------------------------------
  // Node peers

  /**
   * A HELLO_NODE_PEER straight to `endpoint` over UDP (the direct-path attempt of s4.11);
   * resolves on the peer's ACK. We advertise no short id, so the peer keeps using long headers.
   */
  async helloNodePeer(
    peer: Uint8Array,
    endpoint: Endpoint,
    timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
  ): Promise<NodeHelloResult> {
    this.requireRunning();
    const peerHex = bytesToHex(peer);
    const address = this.udpTarget(endpoint.address);
    if (address === undefined)
      throw new Error(`cannot reach ${formatEndpoint(endpoint)} from an IPv${this.udpFamily} socket`);
    const time = this.nextTime();
    const pkt = this.buildHelloNodePeer(peer, time);
    const what = `node peer ${peerHex.slice(0, 16)}… at ${formatEndpoint(endpoint)}`;
    const ack = this.expectAck(
      time,
      peerHex,
      "udp",
      address,
      endpoint.port,
      timeoutMs,
      `${what} within ${timeoutMs} ms`,
    );
    this.udpSend(pkt, address, endpoint.port);
    this.counters.helloTx++;
    return { rttMs: await ack, peer: peerHex };
  }

  private buildHelloNodePeer(peer: Uint8Array, time: bigint): Uint8Array {
    return this.build(
      peer,
      MessageType.Hello,
      encodeHelloNodePeer(time, NO_SHORT_ID),
      this.armMessages ? this.sessionFor(peer).tx : undefined,
    );
  }

  /**
   * APP with a long header, hop 0, armed end to end for the recipient, relayed by the first
   * super peer. Default transport: TCP when a connection exists (as Rust prefers it), else UDP.
   */
  sendApp(recipient: Uint8Array, payload: Uint8Array, via?: Transport): void {
    this.requireRunning();
    const sp = this.superPeers[0];
    if (sp === undefined) throw new Error("sendApp needs a super peer to relay through; this node has none");
    const transport = via ?? (sp.tcp !== undefined ? "tcp" : "udp");
    const size = HEADER_LEN + (this.armMessages ? ARM_HEADER_LEN : 0) + payload.length;
    if (transport === "udp" && size > MTU) {
      throw new RangeError(
        `APP of ${size} bytes exceeds the MTU of ${MTU} (payload at most ${MTU - (size - payload.length)} bytes)`,
      );
    }
    if (transport === "tcp" && sp.tcp === undefined) {
      throw new Error(
        `no TCP connection to super peer ${sp.hex.slice(0, 16)}…; hello(sp, "tcp") or the hello loop opens one`,
      );
    }
    const pkt = this.build(
      recipient,
      MessageType.App,
      payload,
      this.armMessages ? this.sessionFor(recipient).tx : undefined,
    );
    if (sp.tcp !== undefined && transport === "tcp") sp.tcp.send(pkt);
    else this.udpSend(pkt, sp.udpAddress, sp.config.port);
    this.counters.appTx++;
  }

  stats(): DrasylNodeStats {
    return {
      superPeers: this.superPeers.map((sp) => ({
        publicKey: sp.hex,
        host: sp.ip,
        port: sp.config.port,
        tcpPort: sp.config.tcpPort,
        rttMs: { ...sp.rttMs },
        tcpConnected: sp.tcp !== undefined,
      })),
      counters: { ...this.counters },
      drops: Object.fromEntries(this.drops),
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Receiving

  private handlePacket(pkt: Uint8Array, transport: Transport, address: string, port: number): void {
    const parsed = parseHeader(pkt);
    if (!parsed.ok) return this.drop(parsed.reason, transport, address, port);
    const header = parsed.value;
    if (header.networkId !== this.networkId) return this.drop("network_id_invalid", transport, address, port);
    if (!bytesEqual(header.recipient, this.identity.publicKey))
      return this.drop("recipient_invalid", transport, address, port);
    // The Rust node parses unarmed packets as plaintext even when it arms (s1.2); that lets anyone spoof a sender.
    if (!header.armed && this.armMessages) return this.drop("unarmed", transport, address, port);
    const senderHex = bytesToHex(header.sender);
    const sp = this.superPeersByHex.get(senderHex);
    let rx: Uint8Array | undefined;
    if (sp !== undefined) {
      rx = sp.session.rx;
    } else {
      const peer = this.peerState(senderHex, header.sender);
      if (peer === null) return this.drop("sender_invalid", transport, address, port);
      if (this.minPowDifficulty > 0) {
        peer.powOk ??= isValidPow(header.sender, header.pow, this.minPowDifficulty);
        if (!peer.powOk) return this.drop("pow_invalid", transport, address, port);
      }
      rx = peer.session.rx;
    }
    let body: Uint8Array;
    if (header.armed) {
      const opened = disarmPacket(pkt, rx);
      if (!opened.ok) return this.drop(opened.reason, transport, address, port);
      body = opened.value;
    } else {
      body = pkt.subarray(HEADER_LEN);
    }

    const msg = decodeMessage(header, body, "node-peer");
    if (!msg.ok) return this.drop(msg.reason, transport, address, port);
    const m = msg.value;
    if (sp !== undefined) {
      if (m.type === MessageType.Ack) return this.onAck(header, senderHex, sp, m.time, transport, address, port);
      if (m.type === MessageType.Unite) return this.onUnite(sp, m, transport);
      return this.drop("type_unexpected", transport, address, port);
    }
    switch (m.type) {
      case MessageType.App:
        this.counters.appRx++;
        this.emit("app", { sender: header.sender, payload: m.payload, hopCount: header.hopCount, via: transport });
        return;
      case MessageType.Ack:
        return this.onAck(header, senderHex, undefined, m.time, transport, address, port);
      case MessageType.Hello:
        if (m.kind !== "node-peer") return this.drop("type_unexpected", transport, address, port);
        return this.onNodeHello(header, m.time, transport, address, port);
      default:
        return this.drop("type_unexpected", transport, address, port);
    }
  }

  private onAck(
    header: LongHeader,
    senderHex: string,
    sp: SuperPeerState | undefined,
    time: bigint,
    transport: Transport,
    address: string,
    port: number,
  ): void {
    const now = clockMicros();
    // We only ever send our own past times; a future echo would make a negative RTT.
    if (time > now) return this.drop("ack_time_invalid", transport, address, port);
    // Rust checks the age of node-peer ACKs only (s4.8).
    if (sp === undefined && now - time > BigInt(this.helloMaxAgeMs) * 1000n)
      return this.drop("ack_too_old", transport, address, port);
    const rttMs = Number(now - time) / 1000;
    const pending = this.pending.get(time);
    if (pending !== undefined) {
      if (pending.peerHex !== senderHex) return this.drop("ack_wrong_sender", transport, address, port);
      if (pending.transport !== transport) return this.drop("ack_wrong_transport", transport, address, port);
      this.pending.delete(time);
      clearTimeout(pending.timer);
      pending.settle?.resolve(rttMs);
    } else if (sp === undefined) {
      return this.drop("ack_unmatched", transport, address, port);
    }
    this.counters.ackRx++;
    if (sp !== undefined) {
      sp.rttMs[transport] = rttMs;
      if (transport === "udp") {
        sp.udpUnansweredSince = undefined;
        // UDP works again: the fallback connection has done its job (s4.8).
        if (this.loopTimer !== undefined && !this.enforceTcp && sp.tcp !== undefined) sp.tcp.close();
      }
    }
    this.emit("ack", {
      peer: header.sender,
      superPeer: sp !== undefined,
      transport,
      rttMs,
      remote: { address: plainAddress(address), port },
    });
  }

  private onNodeHello(header: LongHeader, time: bigint, transport: Transport, address: string, port: number): void {
    // Super peers never relay HELLOs, so one on the TCP link is not from a node we can answer.
    if (transport !== "udp") return this.drop("type_unexpected", transport, address, port);
    const now = clockMicros();
    // Rust uses saturating_sub: a HELLO from the future is accepted.
    if (now > time && now - time > BigInt(this.helloMaxAgeMs) * 1000n)
      return this.drop("hello_too_old", transport, address, port);
    this.counters.helloRx++;
    const ack = this.build(
      header.sender,
      MessageType.Ack,
      encodeAck(time),
      this.armMessages ? this.sessionFor(header.sender).tx : undefined,
    );
    this.udpSend(ack, address, port);
    this.counters.ackTx++;
    this.emit("hello", { peer: header.sender, remote: { address: plainAddress(address), port }, time });
  }

  private onUnite(sp: SuperPeerState, unite: Unite, via: Transport): void {
    this.counters.uniteRx++;
    this.emit("unite", { address: unite.address, endpoints: unite.endpoints, via, superPeer: sp.config.publicKey });
    const peerHex = bytesToHex(unite.address);
    if (!this.processUnites || this.peerState(peerHex, unite.address) === null) return;
    for (const ep of unite.endpoints) {
      const address = this.udpTarget(ep.address);
      if (address === undefined) continue;
      const time = this.nextTime();
      // Fire and forget: the entry only makes the peer's ACK acceptable for a while.
      const timer = setTimeout(() => this.pending.delete(time), this.helloTimeoutMs);
      this.pending.set(time, { peerHex, transport: "udp", address, port: ep.port, timer });
      this.udpSend(this.buildHelloNodePeer(unite.address, time), address, ep.port);
      this.counters.helloTx++;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Plumbing

  private expectAck(
    time: bigint,
    peerHex: string,
    transport: Transport,
    address: string,
    port: number,
    timeoutMs: number,
    what: string,
  ): Promise<number> {
    if (this.state !== "running") return Promise.reject(new Error("DrasylNode closed"));
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        const p = this.pending.get(time);
        this.pending.delete(time);
        const ignored = p?.dropped
          ? `; ignored packets from there: ${[...p.dropped].map(([r, n]) => `${r}×${n}`).join(", ")}`
          : "";
        reject(new Error(`no ACK from ${what}${ignored}`));
      }, timeoutMs);
      this.pending.set(time, { peerHex, transport, address, port, timer, settle: { resolve, reject } });
    });
  }

  private failPending(transport: Transport, address: string, port: number, message: string): void {
    for (const [time, p] of this.pending) {
      if (p.transport !== transport || p.address !== address || p.port !== port) continue;
      clearTimeout(p.timer);
      this.pending.delete(time);
      p.settle?.reject(new Error(message));
    }
  }

  private drop(reason: string, transport?: Transport, address?: string, port?: number): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
    if (this.pending.size === 0 || address === undefined) return;
    for (const p of this.pending.values()) {
      if (p.settle === undefined || p.transport !== transport || p.address !== address || p.port !== port) continue;
      p.dropped ??= new Map();
      p.dropped.set(reason, (p.dropped.get(reason) ?? 0) + 1);
    }
  }

  /** Session with a node peer, computed on first contact and cached (null: unusable key). */
  private peerState(hex: string, publicKey: Uint8Array): PeerState {
    const cached = this.peers.get(hex);
    if (cached !== undefined) return cached;
    let state: PeerState;
    try {
      state = {
        session: computeSessionKeys(this.identity.xPublic, this.identity.xSecret, ed25519PublicToX25519(publicKey)),
      };
    } catch {
      state = null;
    }
    if (this.peers.size >= MAX_PEERS) {
      const oldest = this.peers.keys().next();
      if (!oldest.done) this.peers.delete(oldest.value);
    }
    this.peers.set(hex, state);
    return state;
  }

  /** For sending: an unusable recipient key is the caller's mistake, so it throws. */
  private sessionFor(publicKey: Uint8Array): SessionKeys {
    const hex = bytesToHex(publicKey);
    const sp = this.superPeersByHex.get(hex);
    if (sp !== undefined) return sp.session;
    const state = this.peerState(hex, publicKey);
    if (state === null)
      throw new Error(`cannot derive session keys with ${hex}: not a valid Ed25519 public key, or our own`);
    return state.session;
  }

  private build(recipient: Uint8Array, type: MessageType, body: Uint8Array, txKey: Uint8Array | undefined): Uint8Array {
    const header = {
      hopCount: 0,
      networkId: this.networkId,
      recipient,
      sender: this.identity.publicKey,
      pow: this.identity.pow,
      type,
    };
    return buildPacket(header, body, txKey !== undefined ? { txKey } : {});
  }

  /** The address string to hand dgram for an endpoint, or undefined if our socket cannot reach it. */
  private udpTarget(address: string): string | undefined {
    const family = isIP(address);
    if (family === 0) return undefined;
    if (this.udpFamily === 4) return family === 4 ? address : undefined;
    return family === 4 ? `::ffff:${address}` : canonicalIp(address);
  }

  private readonly onUdpSent = (err: Error | null): void => {
    if (err) {
      this.counters.sendErrors++;
      this.warn(err);
    }
  };

  private udpSend(pkt: Uint8Array, address: string, port: number): void {
    const udp = this.udp;
    if (udp === undefined || this.state === "closed") return;
    udp.send(pkt, port, address, this.onUdpSent);
  }

  /** Unique per node, so an ACK's echoed time identifies exactly one HELLO. */
  private nextTime(): bigint {
    let t = clockMicros();
    if (t <= this.lastTime) t = this.lastTime + 1n;
    this.lastTime = t;
    return t;
  }

  private socket(): UdpSocket {
    if (this.udp === undefined) throw new Error("DrasylNode is not started");
    return this.udp;
  }

  private requireRunning(): void {
    if (this.state !== "running") throw new Error(`DrasylNode is ${this.state === "new" ? "not started" : this.state}`);
  }

  private warn(e: unknown): void {
    this.emit("warning", e instanceof Error ? e : new Error(String(e)));
  }
}

/** Convenience for tests and tools: a super peer address from a hex key. */
export function superPeerAddress(host: string, port: number, publicKeyHex: string, tcpPort = port): SuperPeerAddress {
  return { host, port, tcpPort, publicKey: hexToBytes(publicKeyHex, 32) };
}
