import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { PairTable } from "../sp-runtime/daemon/pair-table.ts";
import { PeerCounter, PeerTable, peerTableMemory } from "../sp-runtime/daemon/peer-table.ts";
import { SharedLock } from "../sp-runtime/daemon/shared-lock.ts";
import { encodeEndpoints } from "../sp-runtime/wire/endpoints.ts";

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}

describe("PeerTable", () => {
  it("finds exactly the live peers through heavy churn (checked against a Map)", () => {
    const table = new PeerTable(8192);
    const reference = new Map<string, number>();
    const keys: Uint8Array[] = [];
    for (let round = 0; round < 20_000; round++) {
      if (keys.length > 0 && round % 3 === 0) {
        const k = keys.splice(Math.floor(Math.random() * keys.length), 1)[0] as Uint8Array;
        const slot = table.find(k, 0);
        expect(slot).toBe(reference.get(hex(k)));
        table.remove(slot);
        reference.delete(hex(k));
      } else {
        // Keys sharing long prefixes must still spread over the index.
        const k = round % 2 === 0 ? randomBytes(32) : Buffer.concat([Buffer.alloc(28), randomBytes(4)]);
        const slot = table.insert(k, 0, true, undefined);
        keys.push(k);
        reference.set(hex(k), slot);
      }
    }
    expect(table.size).toBe(reference.size);
    for (const k of keys) expect(table.find(k, 0)).toBe(reference.get(hex(k)));
    for (let i = 0; i < 200; i++) expect(table.find(randomBytes(32), 0)).toBe(-1);
    expect([...table.values()].map((p) => p.publicKeyHex).sort()).toEqual([...reference.keys()].sort());
  });

  it("reads a key at any offset of a packet and reuses freed slots with a new generation", () => {
    const table = new PeerTable();
    const pkt = randomBytes(100);
    const slot = table.insert(pkt, 42, false, { rx: new Uint8Array(32).fill(1), tx: new Uint8Array(32).fill(2) });
    expect(table.find(pkt.subarray(42, 74), 0)).toBe(slot);
    expect(table.validPow(slot)).toBe(false);
    expect(table.hasSession(slot)).toBe(true);
    expect(table.txKeys[slot * 32]).toBe(2);
    const gen = table.gen[slot];
    table.remove(slot);
    expect(table.find(pkt, 42)).toBe(-1);
    const again = table.insert(randomBytes(32), 0, true, undefined);
    expect(again).toBe(slot);
    expect(table.gen[again]).toBe((gen as number) + 1);
    expect(table.hasSession(again)).toBe(false);
  });

  it("keeps up to 15 endpoints, inline or not, counts distinct non-zero ones, and appends the observed UDP source", () => {
    const table = new PeerTable();
    const slot = table.insert(randomBytes(32), 0, true, undefined);
    const few = encodeEndpoints([
      { address: "10.0.0.1", port: 1 },
      { address: "10.0.0.1", port: 1 },
      { address: "10.0.0.2", port: 0 },
    ]);
    table.setEndpoints(slot, few, 0, few.length);
    expect(hex(table.endpoints(slot))).toBe(hex(few));
    expect(table.distinctEndpoints[slot]).toBe(1);
    const many = encodeEndpoints(Array.from({ length: 15 }, (_, i) => ({ address: `10.0.1.${i}`, port: 1000 + i })));
    table.setEndpoints(slot, many, 0, many.length);
    expect(hex(table.endpoints(slot))).toBe(hex(many));
    expect(table.distinctEndpoints[slot]).toBe(15);
    table.setUdpSource(slot, false, "192.0.2.7", 4000);
    const out = new Uint8Array(16 * 18);
    expect(table.contactCandidates(slot, out, 0)).toBe(16 * 18);
    expect(hex(out.subarray(15 * 18))).toBe(hex(encodeEndpoints([{ address: "192.0.2.7", port: 4000 }])));
    table.setEndpoints(slot, few, 0, few.length);
    expect(hex(table.endpoints(slot))).toBe(hex(few));
  });
});

describe("PeerTable shared by workers", () => {
  it("lets every worker find, address and count a peer another worker added, and holds the limit across them", () => {
    const memory = peerTableMemory(64, 2);
    const a = new PeerTable(memory, 0);
    const b = new PeerTable(memory, 1);
    const key = randomBytes(32);
    const slot = a.insert(key, 0, true, undefined);
    expect(b.find(key, 0)).toBe(slot);
    // A worker that missed it inserts after it: the slot comes back instead of a second one.
    expect(b.insert(key, 0, true, undefined)).toBe(slot);
    a.setUdpSource(slot, true, "::ffff:192.0.2.1", 4000);
    expect(b.address(slot)).toBe("::ffff:192.0.2.1");
    expect(b.ipVersion(slot)).toBe("ipv4");
    a.setUdpSource(slot, false, "192.0.2.2", 4001);
    expect(b.address(slot)).toBe("192.0.2.2");
    a.count(slot, PeerCounter.AppTx);
    b.count(slot, PeerCounter.AppTx);
    expect(a.counter(slot, PeerCounter.AppTx)).toBe(2);
    expect(b.insert(randomBytes(32), 0, true, undefined, 2)).toBeGreaterThanOrEqual(0);
    expect(a.insert(randomBytes(32), 0, true, undefined, 2)).toBe(-1);
    b.remove(slot);
    expect(a.find(key, 0)).toBe(-1);
    expect(a.size).toBe(1);
  });
});

describe("SharedLock", () => {
  it("excludes, hands over on release, and gives up loudly on a holder that never releases", () => {
    const buffer = new SharedArrayBuffer(8);
    const a = new SharedLock(buffer, 0, 300);
    const b = new SharedLock(buffer, 0, 300);
    a.acquire();
    const t0 = Date.now();
    expect(() => b.acquire()).toThrow(/held for 300 ms: a worker thread died holding it/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    a.release();
    b.acquire();
    b.release();
    a.acquire();
    a.release();
  });
});

describe("PairTable", () => {
  it("adds bytes per direction and sweeps the pairs of gone peers and expired UNITE records", () => {
    const pairs = new PairTable();
    for (let a = 0; a < 300; a++) {
      const e = pairs.entry(a, a + 1);
      pairs.bytes[e] = (pairs.bytes[e] as number) + a;
    }
    expect(pairs.find(5, 6)).toBeGreaterThanOrEqual(0);
    expect(pairs.find(6, 5)).toBe(-1);
    const u = pairs.entry(6, 5);
    pairs.unitedAt[u] = 1000;
    const expired: number[] = [];
    pairs.sweep(
      (slot) => slot !== 10,
      1000 + 4999,
      5000,
      (slot) => expired.push(slot),
    );
    expect(expired).toEqual([]);
    expect(pairs.find(9, 10)).toBe(-1);
    expect(pairs.find(10, 11)).toBe(-1);
    expect(pairs.bytes[pairs.find(8, 9)]).toBe(8);
    // Bytes 0 (a = 0) and no UNITE: nothing left to keep.
    expect(pairs.find(0, 1)).toBe(-1);
    pairs.sweep(
      () => true,
      1000 + 5000,
      5000,
      (slot) => expired.push(slot),
    );
    expect(expired).toEqual([6]);
    expect(pairs.find(6, 5)).toBe(-1);
    expect(pairs.size).toBe(300 - 3);
  });
});
