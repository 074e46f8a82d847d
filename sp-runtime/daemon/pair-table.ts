import { randomBytes } from "node:crypto";

const MIN_CAPACITY = 64;

/**
 * Per (sender slot, recipient slot) of a PeerTable: bytes relayed from one to the other, for
 * drasyl_sp_relayed_bytes{src,dst}, and when the super peer last sent the pair a UNITE, for the
 * SEND_UNITES rate limit. Struct-of-arrays with an open-addressing index, like PeerTable: a relayed
 * packet adds to a number in place, it never creates a Map entry or an object.
 *
 * Entries name peer slots, so they must go before a slot is reused: `sweep` runs in the same
 * housekeeping pass that frees slots, and nothing else frees them.
 */
export class PairTable {
  size = 0;
  private capacity = 0;
  private from = new Int32Array(0);
  private to = new Int32Array(0);
  /** Whole packets relayed from `from` to `to`. */
  bytes = new Float64Array(0);
  /** ms of the last UNITE about this pair; 0 = none live. */
  unitedAt = new Float64Array(0);
  private index = new Int32Array(0);
  private readonly seed: number;

  constructor() {
    this.seed = randomBytes(4).readInt32LE(0);
    this.resize(MIN_CAPACITY);
  }

  private hash(a: number, b: number): number {
    let h = Math.imul(a ^ this.seed, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca6b);
    h ^= h >>> 16;
    h = Math.imul(h, 0xc2b2ae35);
    return h ^ (h >>> 13);
  }

  /** The entry of (a, b), or -1. */
  find(a: number, b: number): number {
    const mask = this.index.length - 1;
    let i = this.hash(a, b) & mask;
    for (;;) {
      const e = this.index[i] as number;
      if (e === 0) return -1;
      if (this.from[e - 1] === a && this.to[e - 1] === b) return e - 1;
      i = (i + 1) & mask;
    }
  }

  /** The entry of (a, b), created empty if missing. */
  entry(a: number, b: number): number {
    const found = this.find(a, b);
    if (found >= 0) return found;
    if (this.size === this.capacity) this.resize(this.capacity * 2);
    const e = this.size++;
    this.from[e] = a;
    this.to[e] = b;
    this.bytes[e] = 0;
    this.unitedAt[e] = 0;
    this.place(e);
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
    this.index[i] = e + 1;
  }

  private resize(capacity: number): void {
    const from = new Int32Array(capacity);
    const to = new Int32Array(capacity);
    const bytes = new Float64Array(capacity);
    const unitedAt = new Float64Array(capacity);
    from.set(this.from.subarray(0, this.size));
    to.set(this.to.subarray(0, this.size));
    bytes.set(this.bytes.subarray(0, this.size));
    unitedAt.set(this.unitedAt.subarray(0, this.size));
    this.from = from;
    this.to = to;
    this.bytes = bytes;
    this.unitedAt = unitedAt;
    this.capacity = capacity;
    this.rebuildIndex();
  }

  private rebuildIndex(): void {
    this.index = new Int32Array(this.capacity * 2);
    for (let e = 0; e < this.size; e++) this.place(e);
  }

  /**
   * Drops the entries of peers that are gone (`alive` false) and UNITE records older than
   * `uniteEvery` ms (calling `uniteExpired(slot)` for the sender of each dropped live record), then
   * entries left with neither bytes nor a UNITE; compacts in place.
   */
  sweep(alive: (slot: number) => boolean, now: number, uniteEvery: number, uniteExpired: (slot: number) => void): void {
    let kept = 0;
    for (let e = 0; e < this.size; e++) {
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
    this.size = kept;
    this.rebuildIndex();
  }
}
