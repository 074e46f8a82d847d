import { randomBytes } from "node:crypto";
import { ENDPOINT_LEN, HELLO_MAX_ENDPOINTS } from "../wire/constants.ts";
import { readEndpoint, writeEndpoint } from "../wire/endpoints.ts";
import { BufferLayout } from "./buffer-layout.ts";
import { SharedLock } from "./shared-lock.ts";

const KEY_LEN = 32;
const MIN_CAPACITY = 64;
/** MAX_PEERS=0 ("unlimited") still needs a size for the shared table: this many slots, reserved but only touched when used. */
export const UNLIMITED_PEERS = 1 << 17;
/**
 * Endpoints kept in the table itself; real nodes report a handful (one per interface address).
 * A HELLO with more (up to 15) moves that peer's list to a block of a shared overflow pool: rare,
 * and 270 bytes in every slot would be most of a peer's memory.
 */
const INLINE_ENDPOINTS = 6;
const INLINE_EPS_LEN = INLINE_ENDPOINTS * ENDPOINT_LEN;
const LARGE_EPS_LEN = HELLO_MAX_ENDPOINTS * ENDPOINT_LEN;

const F_USED = 1;
const F_POW = 2;
const F_SESSION = 4;
const F_TCP = 8;
/** The source arrived on an IPv6 socket: answers go out through that socket, IPv4 sources as ::ffff:a.b.c.d. */
const F_V6_SOCKET = 16;

/** Per-peer message counters, for drasyl_sp_messages. */
export const PeerCounter = { HelloRx: 0, AckTx: 1, AppRx: 2, AppTx: 3, UniteTx: 4 } as const;
export type PeerCounter = (typeof PeerCounter)[keyof typeof PeerCounter];
const COUNTERS = 5;

/** Int32 words at the start of the buffer. */
const CTL_LOCK = 0;
const CTL_SIZE = 1;
const CTL_HIGH_WATER = 2;
const CTL_FREE = 3;
const CTL_LARGE_FREE = 4;
const CTL_WORDS = 8;

const NO_ENDPOINTS = new Uint8Array(0);

/** Everything a worker thread needs to attach to the same table (structured-clonable). */
export interface PeerTableMemory {
  readonly buffer: SharedArrayBuffer;
  readonly capacity: number;
  readonly workers: number;
  readonly seed: number;
}

function layout(capacity: number, workers: number) {
  const b = new BufferLayout();
  const at = (bytes: number): number => b.at(bytes);
  let indexLen = 1;
  while (indexLen < capacity * 2) indexLen *= 2;
  const largeBlocks = Math.max(16, capacity >> 3);
  const l = {
    ctl: at(CTL_WORDS * 4),
    publicKeys: at(capacity * KEY_LEN),
    rxKeys: at(capacity * KEY_LEN),
    txKeys: at(capacity * KEY_LEN),
    flags: at(capacity),
    helloAt: at(capacity * 8),
    counters: at(workers * capacity * COUNTERS * 8),
    port: at(capacity * 2),
    observed: at(capacity * ENDPOINT_LEN),
    inlineEndpoints: at(capacity * INLINE_EPS_LEN),
    endpointsLen: at(capacity * 2),
    distinctEndpoints: at(capacity),
    gen: at(capacity * 4),
    sourceVersion: at(capacity * 4),
    tcpLink: at(capacity * 4),
    uniteRecords: at(capacity * 4),
    hashes: at(capacity * 4),
    index: at(indexLen * 4),
    freeSlots: at(capacity * 4),
    large: at(capacity * 4),
    largePool: at(largeBlocks * LARGE_EPS_LEN),
    largeFree: at(largeBlocks * 4),
    indexLen,
    largeBlocks,
    total: 0,
  };
  l.total = b.size;
  return l;
}

/** A zeroed table for `capacity` peers shared by `workers` threads (each keeps its own message counters). */
export function peerTableMemory(capacity: number, workers = 1): PeerTableMemory {
  const cap = Math.max(MIN_CAPACITY, capacity);
  const l = layout(cap, workers);
  const buffer = new SharedArrayBuffer(l.total);
  const largeFree = new Int32Array(buffer, l.largeFree, l.largeBlocks);
  for (let b = 0; b < l.largeBlocks; b++) largeFree[b] = b;
  new Int32Array(buffer, l.ctl, CTL_WORDS)[CTL_LARGE_FREE] = l.largeBlocks;
  return { buffer, capacity: cap, workers, seed: randomBytes(4).readInt32LE(0) };
}

/**
 * Every node known to the super peer, as struct-of-arrays: peer i is slot i of typed arrays (its
 * keys, session keys, timestamps, counters, endpoints), found through an open-addressing index
 * hashed from the public key bytes. The packet path looks peers up straight from the packet
 * buffer and reads and writes numbers in place: no key string, no object, no Map entry per peer
 * or per packet. The hash is seeded per process, so nobody can choose keys that collide.
 *
 * All of it lives in one SharedArrayBuffer of fixed capacity, so every worker thread attaches the
 * same table: inserts and removals take the shared lock; lookups take none (see `find`). Per-slot numbers are written by the worker that got
 * the peer's packet; a torn read of them costs at most one odd UNITE, never a crash.
 *
 * Slots are only freed by `remove` (housekeeping), which leaves the slot to a later peer; `gen`
 * changes every time, so per-slot data kept elsewhere (metrics) can tell a new peer from an old one.
 */
export class PeerTable {
  readonly capacity: number;
  readonly memory: PeerTableMemory;
  readonly lock: SharedLock;
  readonly publicKeys: Uint8Array;
  /** Session keys (crypto_kx): rx opens what the peer armed, tx arms what we send it. */
  readonly rxKeys: Uint8Array;
  readonly txKeys: Uint8Array;
  readonly flags: Uint8Array;
  /** ms (our clock) of the last accepted HELLO; 0 = none yet. */
  readonly helloAt: Float64Array;
  /** This worker's message counters; `counter` sums every worker's. */
  readonly counters: Float64Array;
  /** UDP source port or TCP remote port of the last HELLO. */
  readonly port: Uint16Array;
  /** Source (UDP or TCP) as an 18-byte endpoint, rewritten only when the source changes. */
  readonly observed: Uint8Array;
  /** The last HELLO's reported endpoints as received, when they fit inline. */
  readonly inlineEndpoints: Uint8Array;
  readonly endpointsLen: Uint16Array;
  /** Distinct non-zero-port entries of the endpoints, for drasyl_sp_peer_endpoints. */
  readonly distinctEndpoints: Uint8Array;
  readonly gen: Uint32Array;
  /** Live UNITE records per peer (both directions), changed under the lock. */
  readonly uniteRecords: Int32Array;
  /** Id of the TCP connection of a TCP-connected peer (the main thread owns the connections). */
  readonly tcpLink: Int32Array;
  /** Bumped whenever the source changes, so each thread knows when its cached address string is stale. */
  private readonly sourceVersion: Uint32Array;
  private readonly allCounters: Float64Array;
  private readonly ctl: Int32Array;
  private readonly hashes: Int32Array;
  /** Slot + 1 per index position, 0 = empty. Twice the capacity, so probes stay short. */
  private readonly index: Int32Array;
  private readonly freeSlots: Int32Array;
  /** Overflow block + 1 of a peer with more endpoints than fit inline, 0 = none. */
  private readonly large: Int32Array;
  private readonly largePool: Uint8Array;
  private readonly largeFree: Int32Array;
  private readonly seed: number;
  /** This thread's address strings, valid while addressVersion matches sourceVersion (only then read). */
  private readonly addressCache: string[];
  private readonly addressVersion: Uint32Array;

  constructor(memory: PeerTableMemory | number = MIN_CAPACITY, worker = 0) {
    const m = typeof memory === "number" ? peerTableMemory(memory) : memory;
    const cap = m.capacity;
    const l = layout(cap, m.workers);
    const b = m.buffer;
    this.memory = m;
    this.capacity = cap;
    this.seed = m.seed;
    this.lock = new SharedLock(b, l.ctl + CTL_LOCK * 4);
    this.ctl = new Int32Array(b, l.ctl, CTL_WORDS);
    this.publicKeys = new Uint8Array(b, l.publicKeys, cap * KEY_LEN);
    this.rxKeys = new Uint8Array(b, l.rxKeys, cap * KEY_LEN);
    this.txKeys = new Uint8Array(b, l.txKeys, cap * KEY_LEN);
    this.flags = new Uint8Array(b, l.flags, cap);
    this.helloAt = new Float64Array(b, l.helloAt, cap);
    this.allCounters = new Float64Array(b, l.counters, m.workers * cap * COUNTERS);
    this.counters = this.allCounters.subarray(worker * cap * COUNTERS, (worker + 1) * cap * COUNTERS);
    this.port = new Uint16Array(b, l.port, cap);
    this.observed = new Uint8Array(b, l.observed, cap * ENDPOINT_LEN);
    this.inlineEndpoints = new Uint8Array(b, l.inlineEndpoints, cap * INLINE_EPS_LEN);
    this.endpointsLen = new Uint16Array(b, l.endpointsLen, cap);
    this.distinctEndpoints = new Uint8Array(b, l.distinctEndpoints, cap);
    this.gen = new Uint32Array(b, l.gen, cap);
    this.sourceVersion = new Uint32Array(b, l.sourceVersion, cap);
    this.tcpLink = new Int32Array(b, l.tcpLink, cap);
    this.uniteRecords = new Int32Array(b, l.uniteRecords, cap);
    this.hashes = new Int32Array(b, l.hashes, cap);
    this.index = new Int32Array(b, l.index, l.indexLen);
    this.freeSlots = new Int32Array(b, l.freeSlots, cap);
    this.large = new Int32Array(b, l.large, cap);
    this.largePool = new Uint8Array(b, l.largePool, l.largeBlocks * LARGE_EPS_LEN);
    this.largeFree = new Int32Array(b, l.largeFree, l.largeBlocks);
    this.addressCache = [];
    this.addressVersion = new Uint32Array(cap);
  }

  get size(): number {
    return this.ctl[CTL_SIZE] as number;
  }

  /** Slots [0, highWater) have been used at some point. */
  get highWater(): number {
    return this.ctl[CTL_HIGH_WATER] as number;
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

  private probe(buf: Uint8Array, off: number): number {
    const index = this.index;
    const mask = index.length - 1;
    let i = this.hash(buf, off) & mask;
    for (;;) {
      const e = index[i] as number;
      if (e === 0) return -1;
      if (this.keyEquals(e - 1, buf, off)) return e - 1;
      i = (i + 1) & mask;
    }
  }

  /**
   * The slot of the peer whose public key is `buf[off, off+32)`, or -1. Without the lock: a hit is
   * always right, but a removal on another thread that moves index entries meanwhile can make a
   * present key miss; `insert` looks again under the lock, and `findSure` does.
   */
  find(buf: Uint8Array, off: number): number {
    return this.probe(buf, off);
  }

  /** `find`, with a miss confirmed under the lock: for answers that must not be wrong (the relay's recipient). */
  findSure(buf: Uint8Array, off: number): number {
    const slot = this.probe(buf, off);
    if (slot >= 0 || this.memory.workers === 1) return slot;
    this.lock.acquire();
    try {
      return this.probe(buf, off);
    } finally {
      this.lock.release();
    }
  }

  /**
   * Adds the peer unless another thread added it since `find` missed (then returns its slot), or
   * returns -1 when `limit` peers (at most the capacity) are already known.
   */
  insert(
    buf: Uint8Array,
    off: number,
    validPow: boolean,
    session: { rx: Uint8Array; tx: Uint8Array } | undefined,
    limit = this.capacity,
  ): number {
    this.lock.acquire();
    try {
      const existing = this.probe(buf, off);
      if (existing >= 0) return existing;
      const ctl = this.ctl;
      const size = ctl[CTL_SIZE] as number;
      if (size >= Math.min(limit, this.capacity)) return -1;
      const free = ctl[CTL_FREE] as number;
      let slot: number;
      if (free > 0) {
        slot = this.freeSlots[free - 1] as number;
        ctl[CTL_FREE] = free - 1;
      } else {
        slot = ctl[CTL_HIGH_WATER] as number;
        ctl[CTL_HIGH_WATER] = slot + 1;
      }
      const base = slot * KEY_LEN;
      for (let i = 0; i < KEY_LEN; i++) this.publicKeys[base + i] = buf[off + i] as number;
      if (session) {
        this.rxKeys.set(session.rx, base);
        this.txKeys.set(session.tx, base);
      }
      this.helloAt[slot] = 0;
      const per = this.capacity * COUNTERS;
      for (let w = 0; w < this.memory.workers; w++)
        this.allCounters.fill(0, w * per + slot * COUNTERS, w * per + slot * COUNTERS + COUNTERS);
      this.port[slot] = 0;
      this.observed.fill(0, slot * ENDPOINT_LEN, slot * ENDPOINT_LEN + ENDPOINT_LEN);
      this.endpointsLen[slot] = 0;
      this.distinctEndpoints[slot] = 0;
      this.tcpLink[slot] = 0;
      this.uniteRecords[slot] = 0;
      this.sourceVersion[slot] = ((this.sourceVersion[slot] as number) + 1) >>> 0;
      const h = this.hash(buf, off);
      this.hashes[slot] = h;
      Atomics.store(this.flags, slot, F_USED | (validPow ? F_POW : 0) | (session ? F_SESSION : 0));
      const mask = this.index.length - 1;
      let i = h & mask;
      while (this.index[i] !== 0) i = (i + 1) & mask;
      // Published last, with a fence: a thread that finds the entry sees the slot's data.
      Atomics.store(this.index, i, slot + 1);
      ctl[CTL_SIZE] = size + 1;
      return slot;
    } finally {
      this.lock.release();
    }
  }

  /** Frees the slot (backward-shift deletion: no tombstones, so lookups never slow down with churn). */
  remove(slot: number): void {
    this.lock.acquire();
    try {
      if (!this.isUsed(slot)) return;
      const ctl = this.ctl;
      const index = this.index;
      const mask = index.length - 1;
      let i = (this.hashes[slot] as number) & mask;
      while (index[i] !== slot + 1) i = (i + 1) & mask;
      let j = i;
      for (;;) {
        j = (j + 1) & mask;
        const e = index[j] as number;
        if (e === 0) break;
        const k = (this.hashes[e - 1] as number) & mask;
        // Entry j may move to the hole at i only if its home k is not cyclically within (i, j].
        if (i <= j ? i < k && k <= j : i < k || k <= j) continue;
        index[i] = e;
        i = j;
      }
      Atomics.store(index, i, 0);
      Atomics.store(this.flags, slot, 0);
      this.gen[slot] = ((this.gen[slot] as number) + 1) >>> 0;
      this.freeLarge(slot);
      this.freeSlots[ctl[CTL_FREE] as number] = slot;
      ctl[CTL_FREE] = (ctl[CTL_FREE] as number) + 1;
      ctl[CTL_SIZE] = (ctl[CTL_SIZE] as number) - 1;
    } finally {
      this.lock.release();
    }
  }

  /** Under the lock. */
  private freeLarge(slot: number): void {
    const block = (this.large[slot] as number) - 1;
    if (block < 0) return;
    this.large[slot] = 0;
    const n = this.ctl[CTL_LARGE_FREE] as number;
    this.largeFree[n] = block;
    this.ctl[CTL_LARGE_FREE] = n + 1;
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

  /** The source arrived on (and answers leave through) an IPv6 socket. */
  onV6Socket(slot: number): boolean {
    return ((this.flags[slot] as number) & F_V6_SOCKET) !== 0;
  }

  count(slot: number, c: PeerCounter): void {
    const i = slot * COUNTERS + c;
    this.counters[i] = (this.counters[i] as number) + 1;
  }

  /** Summed over every worker. */
  counter(slot: number, c: PeerCounter): number {
    const per = this.capacity * COUNTERS;
    let n = 0;
    for (let w = 0; w < this.memory.workers; w++) n += this.allCounters[w * per + slot * COUNTERS + c] as number;
    return n;
  }

  /** Records the source of a HELLO; the endpoint bytes and the version change only when the source does. */
  setUdpSource(slot: number, v6Socket: boolean, address: string, port: number): void {
    const flags = this.flags[slot] as number;
    const wanted = (flags & ~(F_TCP | F_V6_SOCKET)) | (v6Socket ? F_V6_SOCKET : 0);
    if (!this.sameSource(slot, wanted, address, port)) this.setSource(slot, wanted, address, port);
  }

  setTcpSource(slot: number, linkId: number, v6Socket: boolean, address: string, port: number): void {
    this.tcpLink[slot] = linkId;
    const flags = this.flags[slot] as number;
    const wanted = (flags & ~F_V6_SOCKET) | F_TCP | (v6Socket ? F_V6_SOCKET : 0);
    if (!this.sameSource(slot, wanted, address, port)) this.setSource(slot, wanted, address, port);
  }

  private sameSource(slot: number, flags: number, address: string, port: number): boolean {
    return (
      this.flags[slot] === flags &&
      this.port[slot] === port &&
      this.addressVersion[slot] === this.sourceVersion[slot] &&
      this.addressCache[slot] === address
    );
  }

  private setSource(slot: number, flags: number, address: string, port: number): void {
    this.flags[slot] = flags;
    this.port[slot] = port;
    writeEndpoint(this.observed, slot * ENDPOINT_LEN, { address, port });
    const v = ((this.sourceVersion[slot] as number) + 1) >>> 0;
    this.sourceVersion[slot] = v;
    this.cacheAddress(slot, v, address);
  }

  /** Grown as slots are first cached, so a thread pays for the slots it has seen, not the capacity. */
  private cacheAddress(slot: number, version: number, address: string): void {
    const cache = this.addressCache;
    while (cache.length <= slot) cache.push("");
    cache[slot] = address;
    this.addressVersion[slot] = version;
  }

  /** The source address as its socket names it; decoded once per source change and thread. */
  address(slot: number): string {
    const v = this.sourceVersion[slot] as number;
    if (this.addressVersion[slot] !== v) {
      const a =
        this.port[slot] === 0 && !this.isTcp(slot) ? "" : readEndpoint(this.observed, slot * ENDPOINT_LEN).address;
      this.cacheAddress(slot, v, this.onV6Socket(slot) && a !== "" && !a.includes(":") ? `::ffff:${a}` : a);
    }
    return this.addressCache[slot] as string;
  }

  /** Nodes repeat the same endpoints in every HELLO, so the copy and the count happen only on change. */
  setEndpoints(slot: number, buf: Uint8Array, start: number, end: number): void {
    let len = end - start;
    const cur = this.endpointsLen[slot] as number;
    const block = (this.large[slot] as number) - 1;
    const store = block >= 0 ? this.largePool : this.inlineEndpoints;
    const base = block >= 0 ? block * LARGE_EPS_LEN : slot * INLINE_EPS_LEN;
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
    let target = this.inlineEndpoints;
    let off = slot * INLINE_EPS_LEN;
    if (len > INLINE_EPS_LEN || block >= 0) {
      this.lock.acquire();
      if (len <= INLINE_EPS_LEN) this.freeLarge(slot);
      else if (block >= 0) {
        target = this.largePool;
        off = block * LARGE_EPS_LEN;
      } else {
        const n = this.ctl[CTL_LARGE_FREE] as number;
        if (n > 0) {
          const b = this.largeFree[n - 1] as number;
          this.ctl[CTL_LARGE_FREE] = n - 1;
          this.large[slot] = b + 1;
          target = this.largePool;
          off = b * LARGE_EPS_LEN;
        } else {
          // The pool is sized for an eighth of the peers; past that, the first endpoints still reach UNITEs.
          len = INLINE_EPS_LEN;
        }
      }
      this.lock.release();
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
    const block = (this.large[slot] as number) - 1;
    return block >= 0
      ? this.largePool.subarray(block * LARGE_EPS_LEN, block * LARGE_EPS_LEN + len)
      : this.inlineEndpoints.subarray(slot * INLINE_EPS_LEN, slot * INLINE_EPS_LEN + len);
  }

  /** Reported endpoints plus, for UDP, the observed (NAT-mapped) source, appended last (protocol.md s5.2). */
  contactCandidates(slot: number, out: Uint8Array, off: number): number {
    const len = this.endpointsLen[slot] as number;
    const block = (this.large[slot] as number) - 1;
    const src = block >= 0 ? this.largePool : this.inlineEndpoints;
    const base = block >= 0 ? block * LARGE_EPS_LEN : slot * INLINE_EPS_LEN;
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
    const o = this.observed;
    const base = slot * ENDPOINT_LEN + 2;
    // ::ffff:0:0/96 is the IPv4 form of the 16 address bytes.
    for (let i = 0; i < 10; i++) if (o[base + i] !== 0) return "ipv6";
    return o[base + 10] === 0xff && o[base + 11] === 0xff ? "ipv4" : "ipv6";
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
    return this.table.address(this.slot);
  }

  get port(): number {
    return this.table.port[this.slot] as number;
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

  /** The kind of socket the last HELLO came through, e.g. "udp6" (IPv4 sources of a dual-stack socket included). */
  get socket(): string {
    return `${this.prot}${this.table.onV6Socket(this.slot) ? 6 : 4}`;
  }

  counter(c: PeerCounter): number {
    return this.table.counter(this.slot, c);
  }
}
