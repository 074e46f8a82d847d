import { randomBytes } from "node:crypto";
import { ed25519 } from "@noble/curves/ed25519.js";
import { describe, expect, it } from "vitest";
import { edwardsToMontgomery } from "../sp-runtime/crypto/edwards-to-montgomery.ts";

/** The reference: noble's RFC 8032 decoding and birational map, which the daemon used before. */
function reference(pk: Uint8Array): string | undefined {
  try {
    return Buffer.from(ed25519.utils.toMontgomery(pk)).toString("hex");
  } catch {
    return undefined;
  }
}

function le(y: bigint, sign = 0): Uint8Array {
  const b = Buffer.from(y.toString(16).padStart(64, "0"), "hex").reverse();
  b[31] = (b[31] as number) | (sign << 7);
  return new Uint8Array(b);
}

const P = (1n << 255n) - 19n;

describe("edwardsToMontgomery", () => {
  it("agrees with noble on real keys, random bytes (about half are not points) and every edge of y", () => {
    const inputs: Uint8Array[] = [];
    for (let i = 0; i < 300; i++) inputs.push(ed25519.getPublicKey(randomBytes(32)));
    for (let i = 0; i < 700; i++) inputs.push(new Uint8Array(randomBytes(32)));
    for (const y of [0n, 1n, 2n, P - 2n, P - 1n, P, P + 1n, (1n << 255n) - 1n])
      for (const sign of [0, 1]) inputs.push(le(y, sign));
    let valid = 0;
    for (const pk of inputs) {
      const mine = edwardsToMontgomery(pk);
      const hex = mine === undefined ? undefined : Buffer.from(mine).toString("hex");
      expect(hex, Buffer.from(pk).toString("hex")).toBe(reference(pk));
      if (mine) valid++;
    }
    expect(valid).toBeGreaterThan(300);
    expect(valid).toBeLessThan(inputs.length - 300);
  });
});
