import { describe, expect, it } from "vitest";
import { computeSessionKeys } from "../sp-runtime/crypto/session.ts";
import { Identity } from "../sp-runtime/identity/identity.ts";
import { MessageType } from "../sp-runtime/wire/constants.ts";
import { decodeMessage, openPacket } from "../sp-runtime/wire/packet.ts";
import { REJECTIONS } from "../sp-runtime/wire/result.ts";
import { hexToBytes } from "../sp-runtime/util/hex.ts";
import { drasyl } from "./support/vectors.ts";

/** Deterministic, so a failure reproduces. */
function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x1_0000_0000;
  };
}

describe("parser and opener under random and mutated input", () => {
  it("ends every one of 120k packets in success or a typed rejection", () => {
    const rand = xorshift(0xd1a5);
    const int = (n: number) => Math.floor(rand() * n);
    const sp = new Identity(hexToBytes(drasyl.identities.id_1?.secretKey ?? ""), 0);
    const node = new Identity(hexToBytes(drasyl.identities.id_2?.secretKey ?? ""), 0);
    const rx = computeSessionKeys(sp.xPublic, sp.xSecret, node.xPublic).rx;
    const seeds = drasyl.packets.map((p) => hexToBytes(p.packet));
    const counts = new Map<string, number>();
    const valid = new Set<string>(REJECTIONS);

    for (let i = 0; i < 120_000; i++) {
      let pkt: Uint8Array;
      const mode = i % 6;
      const seed = seeds[int(seeds.length)] as Uint8Array;
      if (mode === 0) {
        pkt = new Uint8Array(int(1600));
        for (let j = 0; j < pkt.length; j++) pkt[j] = int(256);
      } else if (mode === 1) {
        pkt = seed.slice(0, int(seed.length + 1));
      } else if (mode === 2) {
        pkt = seed.slice();
        const flips = 1 + int(4);
        for (let f = 0; f < flips; f++) {
          const bit = int(pkt.length * 8);
          pkt[bit >> 3] = (pkt[bit >> 3] as number) ^ (1 << (bit & 7));
        }
      } else if (mode === 3) {
        // Valid header, huge random body: endpoint counts far beyond the limits.
        pkt = new Uint8Array(79 + int(65000));
        pkt.set(seed.subarray(0, 79));
        for (let j = 79; j < pkt.length; j++) pkt[j] = int(256);
        pkt[5] = 0;
      } else if (mode === 4) {
        pkt = seed.slice();
        pkt[78] = int(256);
      } else {
        pkt = new Uint8Array(seed.length + int(40));
        pkt.set(seed);
        pkt[5] = (pkt[5] as number) ^ 0x10;
      }

      const opened = openPacket(pkt, rand() < 0.5 ? rx : undefined);
      let outcome: string;
      if (!opened.ok) outcome = opened.reason;
      else {
        const kind = rand() < 0.5 ? "super-peer" : "node-peer";
        const msg = decodeMessage(opened.value.header, opened.value.body, kind);
        outcome = msg.ok ? `ok:${MessageType.App === msg.value.type ? "app" : msg.value.type}` : msg.reason;
      }
      if (!outcome.startsWith("ok:")) expect(valid.has(outcome)).toBe(true);
      counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
    }
    // Each mutation class must actually exercise its rejection path.
    for (const reason of ["too_short", "magic_invalid", "type_invalid", "tag_invalid", "no_session_key"]) {
      expect(counts.get(reason) ?? 0).toBeGreaterThan(100);
    }
  });
});
