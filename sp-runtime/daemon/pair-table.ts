import { randomBytes } from "node:crypto";
import { BufferLayout } from "./buffer-layout.ts";
import { SharedLock } from "./shared-lock.ts";

const MIN_CAPACITY = 1024;
const CTL_LOCK = 0;
const CTL_SIZE = 1;
const CTL_WORDS = 2;

/** What a worker thread needs to attach to the same pair table (structured-clonable). */
export interface PairTableMemory {
  readonly buffer: SharedArrayBuffer;
  readonly capacity: number;
  readonly seed: number;
}

function layout(capacity: number) {
  const b = new BufferLayout();
  const at = (bytes: number): number => b.at(bytes);
  const l = {
    ctl: at(CTL_WORDS * 4),
    bytes: at(capacity * 8),
    unitedAt: at(capacity * 8),
    from: at(capacity * 4),
    to: at(capacity * 4),
    index: at(capacity * 2 * 4),
    total: 0,
  };
  l.total = b.size;
  return l;
}

/** A zeroed pair table of at least `capacity` entries (a power of two). */
export function pairTableMemory(capacity: number): PairTableMemory {
  let cap = MIN_CAPACITY;
  while (cap < capacity) cap *= 2;
  return { buffer: new SharedArrayBuffer(layout(cap).total), capacity: cap, seed: randomBytes(4).readInt32LE(0) };
}

/**
 * Per (sender slot, recipient slot) of a PeerTable: bytes relayed from one to the other, for
 * drasyl_sp_relayed_bytes{src,dst}, and when the super peer last sent the pair a UNITE, for the
 * SEND_UNITES rate limit. Struct-of-arrays with an open-addressing index, like PeerTable: a relayed
 * packet adds to a number in place, it never creates a Map entry or an object.
 *
 * Shared by every worker thread like the PeerTable, under the same lock: new entries, UNITE
 * decisions (so the rate limit holds whichever worker relays) and the sweep take it; a lookup of
 * an existing entry does not. When full, new pairs go without bytes and UNITEs until the next sweep.
 *
 * Entries name peer slots, so they must go before a slot is reused: `sweep` runs in the same
 * housekeeping pass that frees slots, and nothing else frees them.
 */
export class PairTable {
  readonly memory: PairTableMemory;
  readonly lock: SharedLock;
  /** Whole packets relayed from `from` to `to`. */
  readonly bytes: Float64Array;
  /** ms of the last UNITE about this pair; 0 = none live. */
  readonly unitedAt: Float64Array;
  private readonly capacity: number;
  private readonly ctl: Int32Array;
  private readonly from: Int32Array;
  private readonly to: Int32Array;
  private readonly index: Int32Array;
  private readonly seed: number;

  /** `lock` is the peer table's, so one lock orders every shared write; a standalone table brings its own. */
  constructor(memory: PairTableMemory | number = MIN_CAPACITY, lock?: SharedLock) {
    const m = typeof memory === "number" ? pairTableMemory(memory) : memory;
    const l = layout(m.capacity);
    const b = m.buffer;
    this.memory = m;
    this.capacity = m.capacity;
    this.seed = m.seed;
    this.lock = lock ?? new SharedLock(b, l.ctl + CTL_LOCK * 4);
    this.ctl = new Int32Array(b, l.ctl, CTL_WORDS);
    this.bytes = new Float64Array(b, l.bytes, m.capacity);
    this.unitedAt = new Float64Array(b, l.unitedAt, m.capacity);
    this.from = new Int32Array(b, l.from, m.capacity);
    this.to = new Int32Array(b, l.to, m.capacity);
    this.index = new Int32Array(b, l.index, m.capacity * 2);
  }

  get size(): number {
    return this.ctl[CTL_SIZE] as number;
  }

  private hash(a: number, b: number): number {
    let h = Math.imul(a ^ this.seed, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca6b);
    h ^= h >>> 16;
    h = Math.imul(h, 0xc2b2ae35);
    return h ^ (h >>> 13);
  }

  /** The entry of (a, b), or -1. A miss while a sweep compacts the table is resolved by `entry` under the lock. */
  find(a: number, b: number): number {
    const index = this.index;
    const mask = index.length - 1;
    let i = this.hash(a, b) & mask;
    for (;;) {
      const e = index[i] as number;
      if (e === 0) return -1;
      if (this.from[e - 1] === a && this.to[e - 1] === b) return e - 1;
      i = (i + 1) & mask;
    }
  }

  /** The entry of (a, b), created empty if missing; -1 when the table is full. */
  entry(a: number, b: number): number {
    const found = this.find(a, b);
    if (found >= 0) return found;
    this.lock.acquire();
    try {
      return this.entryLocked(a, b);
    } finally {
      this.lock.release();
    }
  }

  /** `entry` for a caller that holds the lock. */
  entryLocked(a: number, b: number): number {
    const found = this.find(a, b);
    if (found >= 0) return found;
    const size = this.ctl[CTL_SIZE] as number;
    if (size === this.capacity) return -1;
    const e = size;
    this.from[e] = a;
    this.to[e] = b;
    this.bytes[e] = 0;
    this.unitedAt[e] = 0;
    this.place(e);
    this.ctl[CTL_SIZE] = size + 1;
    return e;
  }

  source(e: number): number {
    return this.from[e] as number;
  }

  target(e: number): number {
    return this.to[e] as number;
  }

  private place(e: number): void {
    const mask = this.index.length - 1;
    let i = this.hash(this.from[e] as number, this.to[e] as number) & mask;
    while (this.index[i] !== 0) i = (i + 1) & mask;
    Atomics.store(this.index, i, e + 1);
  }

  /**
   * Drops the entries of peers that are gone (`alive` false) and UNITE records older than
   * `uniteEvery` ms (calling `uniteExpired(slot)` for the sender of each dropped live record), then
   * entries left with neither bytes nor a UNITE; compacts in place, under the lock.
   */
  sweep(alive: (slot: number) => boolean, now: number, uniteEvery: number, uniteExpired: (slot: number) => void): void {
    this.lock.acquire();
    try {
      const size = this.ctl[CTL_SIZE] as number;
      let kept = 0;
      for (let e = 0; e < size; e++) {
        const a = this.from[e] as number;
        const b = this.to[e] as number;
        const aAlive = alive(a);
        const live = aAlive && alive(b);
        let united = this.unitedAt[e] as number;
        if (united !== 0 && (!live || now - united >= uniteEvery)) {
          if (aAlive) uniteExpired(a);
          united = 0;
        }
        const bytes = this.bytes[e] as number;
        if (!live || (bytes === 0 && united === 0)) continue;
        this.from[kept] = a;
        this.to[kept] = b;
        this.bytes[kept] = bytes;
        this.unitedAt[kept] = united;
        kept++;
      }
      // Nothing dropped, nothing moved: the index still holds (with MAX_PEERS=0 it is 2 MB to rewrite).
      if (kept === size) return;
      this.ctl[CTL_SIZE] = kept;
      this.index.fill(0);
      for (let e = 0; e < kept; e++) this.place(e);
    } finally {
      this.lock.release();
    }
  }
}
