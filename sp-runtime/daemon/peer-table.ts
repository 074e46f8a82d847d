import { randomBytes } from "node:crypto";
import { ENDPOINT_LEN } from "../wire/constants.ts";
import { writeEndpoint } from "../wire/endpoints.ts";
import type { TcpLink, UdpSender } from "./transport.ts";

const KEY_LEN = 32;
const MIN_CAPACITY = 64;
/**
 * Endpoints kept in the table itself; real nodes report a handful (one per interface address).
 * A HELLO with more (up to 15) moves that peer's list to its own array: rare, and 270 bytes in
 * every slot would be most of a peer's memory.
 */
const INLINE_ENDPOINTS = 6;
const INLINE_EPS_LEN = INLINE_ENDPOINTS * ENDPOINT_LEN;

const F_USED = 1;
const F_POW = 2;
const F_SESSION = 4;
const F_TCP = 8;

/** Per-peer message counters, for drasyl_sp_messages. */
export const PeerCounter = { HelloRx: 0, AckTx: 1, AppRx: 2, AppTx: 3, UniteTx: 4 } as const;
export type PeerCounter = (typeof PeerCounter)[keyof typeof PeerCounter];
const COUNTERS = 5;

const NO_ENDPOINTS = new Uint8Array(0);

/**
 * Every node known to the super peer, as struct-of-arrays: peer i is slot i of typed arrays (its
 * keys, session keys, timestamps, counters, endpoints), found through an open-addressing index
 * hashed from the public key bytes. The packet path looks peers up straight from the packet
 * buffer and reads and writes numbers in place: no key string, no object, no Map entry per peer
 * or per packet. The hash is seeded per process, so nobody can choose keys that collide.
 *
 * Slots are only freed by `remove` (housekeeping), which leaves the slot to a later peer; `gen`
 * changes every time, so per-slot data kept elsewhere (metrics) can tell a new peer from an old one.
 */
export class PeerTable {
  capacity = 0;
  size = 0;
  /** Slots [0, highWater) have been used at some point. */
  highWater = 0;

  publicKeys = new Uint8Array(0);
  /** Session keys (crypto_kx): rx opens what the peer armed, tx arms what we send it. */
  rxKeys = new Uint8Array(0);
  txKeys = new Uint8Array(0);
  flags = new Uint8Array(0);
  /** ms (our clock) of the last accepted HELLO; 0 = none yet. */
  helloAt = new Float64Array(0);
  counters = new Float64Array(0);
  /** UDP source port or TCP remote port of the last HELLO. */
  port = new Uint16Array(0);
  /** UDP source as an 18-byte endpoint, rewritten only when the source changes. */
  observed = new Uint8Array(0);
  /** The last HELLO's reported endpoints as received, when they fit inline. */
  inlineEndpoints = new Uint8Array(0);
  endpointsLen = new Uint16Array(0);
  /** Distinct non-zero-port entries of the endpoints, for drasyl_sp_peer_endpoints. */
  distinctEndpoints = new Uint8Array(0);
  gen = new Uint32Array(0);
  private hashes = new Int32Array(0);
  /** Slot + 1 per index position, 0 = empty. Twice the capacity, so probes stay short. */
  private index = new Int32Array(0);
  private freeSlots = new Int32Array(0);
  private freeCount = 0;

  // Not numbers: kept in plain arrays, one entry per slot.
  address: string[] = [];
  udp: (UdpSender | undefined)[] = [];
  tcp: (TcpLink | undefined)[] = [];
  private largeEndpoints: (Uint8Array | undefined)[] = [];

  private readonly seed: number;

  constructor(capacity = MIN_CAPACITY) {
    this.seed = randomBytes(4).readInt32LE(0);
    this.resize(Math.max(MIN_CAPACITY, 1 << Math.ceil(Math.log2(Math.max(1, capacity)))));
  }

  /** Seeded, all 32 bytes, with murmur3's finaliser so low bits depend on every input bit. */
  private hash(buf: Uint8Array, off: number): number {
    let h = this.seed;
    for (let i = 0; i < KEY_LEN; i += 4) {
      const w =
        (buf[off + i] as number) |
        ((buf[off + i + 1] as number) << 8) |
        ((buf[off + i + 2] as number) << 16) |
        ((buf[off + i + 3] as number) << 24);
      h = Math.imul(h ^ w, 0x9e3779b1);
      h ^= h >>> 15;
    }
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    return h ^ (h >>> 16);
  }

  private keyEquals(slot: number, buf: Uint8Array, off: number): boolean {
    const keys = this.publicKeys;
    const base = slot * KEY_LEN;
    for (let i = 0; i < KEY_LEN; i++) if (keys[base + i] !== buf[off + i]) return false;
    return true;
  }

  /** The slot of the peer whose public key is `buf[off, off+32)`, or -1. */
  find(buf: Uint8Array, off: number): number {
    const mask = this.index.length - 1;
    let i = this.hash(buf, off) & mask;
    for (;;) {
      const e = this.index[i] as number;
      if (e === 0) return -1;
      if (this.keyEquals(e - 1, buf, off)) return e - 1;
      i = (i + 1) & mask;
    }
  }

  /** Adds a peer that `find` did not find; returns its slot. */
  insert(
    buf: Uint8Array,
    off: number,
    validPow: boolean,
    session: { rx: Uint8Array; tx: Uint8Array } | undefined,
  ): number {
    if (this.size === this.capacity) this.resize(this.capacity * 2);
    const slot = this.freeCount > 0 ? (this.freeSlots[--this.freeCount] as number) : this.highWater++;
    const base = slot * KEY_LEN;
    for (let i = 0; i < KEY_LEN; i++) this.publicKeys[base + i] = buf[off + i] as number;
    if (session) {
      this.rxKeys.set(session.rx, base);
      this.txKeys.set(session.tx, base);
    }
    this.flags[slot] = F_USED | (validPow ? F_POW : 0) | (session ? F_SESSION : 0);
    this.helloAt[slot] = 0;
    this.counters.fill(0, slot * COUNTERS, slot * COUNTERS + COUNTERS);
    this.port[slot] = 0;
    this.observed.fill(0, slot * ENDPOINT_LEN, slot * ENDPOINT_LEN + ENDPOINT_LEN);
    this.endpointsLen[slot] = 0;
    this.distinctEndpoints[slot] = 0;
    this.address[slot] = "";
    this.udp[slot] = undefined;
    this.tcp[slot] = undefined;
    this.largeEndpoints[slot] = undefined;
    const h = this.hash(buf, off);
    this.hashes[slot] = h;
    this.place(slot, h);
    this.size++;
    return slot;
  }

  private place(slot: number, h: number): void {
    const mask = this.index.length - 1;
    let i = h & mask;
    while (this.index[i] !== 0) i = (i + 1) & mask;
    this.index[i] = slot + 1;
  }

  /** Frees the slot (backward-shift deletion: no tombstones, so lookups never slow down with churn). */
  remove(slot: number): void {
    const mask = this.index.length - 1;
    let i = (this.hashes[slot] as number) & mask;
    while (this.index[i] !== slot + 1) i = (i + 1) & mask;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const e = this.index[j] as number;
      if (e === 0) break;
      const k = (this.hashes[e - 1] as number) & mask;
      // Entry j may move to the hole at i only if its home k is not cyclically within (i, j].
      if (i <= j ? i < k && k <= j : i < k || k <= j) continue;
      this.index[i] = e;
      i = j;
    }
    this.index[i] = 0;
    this.flags[slot] = 0;
    this.gen[slot] = ((this.gen[slot] as number) + 1) >>> 0;
    this.address[slot] = "";
    this.udp[slot] = undefined;
    this.tcp[slot] = undefined;
    this.largeEndpoints[slot] = undefined;
    this.freeSlots[this.freeCount++] = slot;
    this.size--;
  }

  private resize(capacity: number): void {
    const grow = <T extends Uint8Array | Uint16Array | Uint32Array | Int32Array | Float64Array>(
      old: T,
      make: (n: number) => T,
      per: number,
    ): T => {
      const next = make(capacity * per);
      next.set(old);
      return next;
    };
    this.publicKeys = grow(this.publicKeys, (n) => new Uint8Array(n), KEY_LEN);
    this.rxKeys = grow(this.rxKeys, (n) => new Uint8Array(n), KEY_LEN);
    this.txKeys = grow(this.txKeys, (n) => new Uint8Array(n), KEY_LEN);
    this.flags = grow(this.flags, (n) => new Uint8Array(n), 1);
    this.helloAt = grow(this.helloAt, (n) => new Float64Array(n), 1);
    this.counters = grow(this.counters, (n) => new Float64Array(n), COUNTERS);
    this.port = grow(this.port, (n) => new Uint16Array(n), 1);
    this.observed = grow(this.observed, (n) => new Uint8Array(n), ENDPOINT_LEN);
    this.inlineEndpoints = grow(this.inlineEndpoints, (n) => new Uint8Array(n), INLINE_EPS_LEN);
    this.endpointsLen = grow(this.endpointsLen, (n) => new Uint16Array(n), 1);
    this.distinctEndpoints = grow(this.distinctEndpoints, (n) => new Uint8Array(n), 1);
    this.gen = grow(this.gen, (n) => new Uint32Array(n), 1);
    this.hashes = grow(this.hashes, (n) => new Int32Array(n), 1);
    this.freeSlots = grow(this.freeSlots, (n) => new Int32Array(n), 1);
    for (let s = this.capacity; s < capacity; s++) {
      this.address.push("");
      this.udp.push(undefined);
      this.tcp.push(undefined);
      this.largeEndpoints.push(undefined);
    }
    this.capacity = capacity;
    this.index = new Int32Array(capacity * 2);
    for (let s = 0; s < this.highWater; s++) if (this.isUsed(s)) this.place(s, this.hashes[s] as number);
  }

  isUsed(slot: number): boolean {
    return ((this.flags[slot] as number) & F_USED) !== 0;
  }

  validPow(slot: number): boolean {
    return ((this.flags[slot] as number) & F_POW) !== 0;
  }

  hasSession(slot: number): boolean {
    return ((this.flags[slot] as number) & F_SESSION) !== 0;
  }

  isTcp(slot: number): boolean {
    return ((this.flags[slot] as number) & F_TCP) !== 0;
  }

  count(slot: number, c: PeerCounter): void {
    const i = slot * COUNTERS + c;
    this.counters[i] = (this.counters[i] as number) + 1;
  }

  counter(slot: number, c: PeerCounter): number {
    return this.counters[slot * COUNTERS + c] as number;
  }

  setUdpSource(slot: number, udp: UdpSender, address: string, port: number): void {
    const flags = this.flags[slot] as number;
    this.flags[slot] = flags & ~F_TCP;
    this.udp[slot] = udp;
    this.tcp[slot] = undefined;
    if ((flags & F_TCP) !== 0 || this.address[slot] !== address || this.port[slot] !== port) {
      this.address[slot] = address;
      this.port[slot] = port;
      writeEndpoint(this.observed, slot * ENDPOINT_LEN, { address, port });
    }
  }

  setTcpSource(slot: number, link: TcpLink): void {
    this.flags[slot] = (this.flags[slot] as number) | F_TCP;
    this.tcp[slot] = link;
    this.udp[slot] = undefined;
    this.address[slot] = link.remoteAddress;
    this.port[slot] = link.remotePort;
  }

  /** Nodes repeat the same endpoints in every HELLO, so the copy and the count happen only on change. */
  setEndpoints(slot: number, buf: Uint8Array, start: number, end: number): void {
    const len = end - start;
    const cur = this.endpointsLen[slot] as number;
    const large = this.largeEndpoints[slot];
    const store = large ?? this.inlineEndpoints;
    const base = large ? 0 : slot * INLINE_EPS_LEN;
    if (cur === len) {
      let same = true;
      for (let i = 0; i < len; i++) {
        if (store[base + i] !== buf[start + i]) {
          same = false;
          break;
        }
      }
      if (same) return;
    }
    let target: Uint8Array;
    let off = 0;
    if (len <= INLINE_EPS_LEN) {
      this.largeEndpoints[slot] = undefined;
      target = this.inlineEndpoints;
      off = slot * INLINE_EPS_LEN;
    } else {
      target = new Uint8Array(len);
      this.largeEndpoints[slot] = target;
    }
    for (let i = 0; i < len; i++) target[off + i] = buf[start + i] as number;
    this.endpointsLen[slot] = len;
    let distinct = 0;
    for (let a = 0; a + ENDPOINT_LEN <= len; a += ENDPOINT_LEN) {
      if (target[off + a] === 0 && target[off + a + 1] === 0) continue;
      let seen = false;
      for (let b = 0; b < a && !seen; b += ENDPOINT_LEN) {
        if (target[off + b] === 0 && target[off + b + 1] === 0) continue;
        let eq = true;
        for (let i = 0; i < ENDPOINT_LEN; i++) {
          if (target[off + a + i] !== target[off + b + i]) {
            eq = false;
            break;
          }
        }
        seen = eq;
      }
      if (!seen) distinct++;
    }
    this.distinctEndpoints[slot] = distinct;
  }

  /** A copy-free view of the peer's reported endpoints (valid until its next HELLO). */
  endpoints(slot: number): Uint8Array {
    const len = this.endpointsLen[slot] as number;
    if (len === 0) return NO_ENDPOINTS;
    const large = this.largeEndpoints[slot];
    return large ?? this.inlineEndpoints.subarray(slot * INLINE_EPS_LEN, slot * INLINE_EPS_LEN + len);
  }

  /** Reported endpoints plus, for UDP, the observed (NAT-mapped) source, appended last (protocol.md s5.2). */
  contactCandidates(slot: number, out: Uint8Array, off: number): number {
    const len = this.endpointsLen[slot] as number;
    const large = this.largeEndpoints[slot];
    const src = large ?? this.inlineEndpoints;
    const base = large ? 0 : slot * INLINE_EPS_LEN;
    for (let i = 0; i < len; i++) out[off + i] = src[base + i] as number;
    let n = len;
    if (!this.isTcp(slot)) {
      const o = slot * ENDPOINT_LEN;
      for (let i = 0; i < ENDPOINT_LEN; i++) out[off + n + i] = this.observed[o + i] as number;
      n += ENDPOINT_LEN;
    }
    return n;
  }

  /** "ipv4" for IPv4 and IPv4-mapped sources, as the Rust metric labels them. */
  ipVersion(slot: number): "ipv4" | "ipv6" {
    const a = this.address[slot] as string;
    return a.includes(":") && !a.startsWith("::ffff:") ? "ipv6" : "ipv4";
  }

  /** A read-only view of one peer, for metrics, the peers printout and tests: never on the packet path. */
  view(slot: number): Peer {
    return new Peer(this, slot);
  }

  /** Views of every peer, in slot order. */
  *values(): IterableIterator<Peer> {
    for (let s = 0; s < this.highWater; s++) if (this.isUsed(s)) yield new Peer(this, s);
  }

  /** The peer with this public key, as a view. */
  get(publicKey: Uint8Array): Peer | undefined {
    const slot = this.find(publicKey, 0);
    return slot < 0 ? undefined : new Peer(this, slot);
  }
}

/** One slot of a PeerTable, read at the time of each access. */
export class Peer {
  readonly table: PeerTable;
  readonly slot: number;

  constructor(table: PeerTable, slot: number) {
    this.table = table;
    this.slot = slot;
  }

  get publicKey(): Uint8Array {
    return this.table.publicKeys.subarray(this.slot * KEY_LEN, this.slot * KEY_LEN + KEY_LEN);
  }

  get publicKeyHex(): string {
    return Buffer.from(
      this.table.publicKeys.buffer,
      this.table.publicKeys.byteOffset + this.slot * KEY_LEN,
      KEY_LEN,
    ).toString("hex");
  }

  get validPow(): boolean {
    return this.table.validPow(this.slot);
  }

  get helloAt(): number {
    return this.table.helloAt[this.slot] as number;
  }

  get prot(): "udp" | "tcp" {
    return this.table.isTcp(this.slot) ? "tcp" : "udp";
  }

  get address(): string {
    return this.table.address[this.slot] as string;
  }

  get port(): number {
    return this.table.port[this.slot] as number;
  }

  get udp(): UdpSender | undefined {
    return this.table.udp[this.slot];
  }

  get endpoints(): Uint8Array {
    return this.table.endpoints(this.slot);
  }

  get distinctEndpoints(): number {
    return this.table.distinctEndpoints[this.slot] as number;
  }

  get ipVersion(): "ipv4" | "ipv6" {
    return this.table.ipVersion(this.slot);
  }

  counter(c: PeerCounter): number {
    return this.table.counter(this.slot, c);
  }
}
