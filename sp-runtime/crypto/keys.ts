import { createHash, createPrivateKey, createPublicKey, diffieHellman, type KeyObject, randomBytes } from "node:crypto";
import { ed25519 } from "@noble/curves/ed25519.js";
import { bytesEqual } from "../util/hex.ts";
import { edwardsToMontgomery } from "./edwards-to-montgomery.ts";

export const PUBLIC_KEY_LEN = 32;
export const SECRET_KEY_LEN = 64;

export class KeyError extends Error {
  override readonly name = "KeyError";
}

export function publicKeyFromSeed(seed: Uint8Array): Uint8Array {
  if (seed.length !== 32) throw new KeyError(`Ed25519 seed must be 32 bytes, got ${seed.length}`);
  return ed25519.getPublicKey(seed);
}

/** A fresh libsodium-layout secret key (seed || public key). */
export function generateSecretKey(): Uint8Array {
  const seed = new Uint8Array(randomBytes(32));
  const sk = new Uint8Array(SECRET_KEY_LEN);
  sk.set(seed, 0);
  sk.set(publicKeyFromSeed(seed), 32);
  return sk;
}

/**
 * Rust takes the public key as the last 32 bytes without checking it against the seed; a file
 * whose halves disagree would make us sign and agree keys under an identity we do not own.
 */
export function checkSecretKey(sk: Uint8Array): void {
  if (sk.length !== SECRET_KEY_LEN) throw new KeyError(`secret key must be ${SECRET_KEY_LEN} bytes, got ${sk.length}`);
  const derived = publicKeyFromSeed(sk.subarray(0, 32));
  if (!bytesEqual(derived, sk.subarray(32, 64))) {
    throw new KeyError("secret key's public half does not match the key derived from its seed");
  }
}

/** Montgomery u = (1+y)/(1-y); throws KeyError when the bytes are not a valid Edwards point. */
export function ed25519PublicToX25519(pk: Uint8Array): Uint8Array {
  if (pk.length !== PUBLIC_KEY_LEN) throw new KeyError(`public key must be ${PUBLIC_KEY_LEN} bytes, got ${pk.length}`);
  const u = edwardsToMontgomery(pk);
  if (u === undefined) throw new KeyError("public key is not a valid Ed25519 point");
  return u;
}

/** crypto_sign_ed25519_sk_to_curve25519: clamped SHA-512(seed)[0..32]. */
export function ed25519SecretToX25519(sk: Uint8Array): Uint8Array {
  const h = createHash("sha512").update(sk.subarray(0, 32)).digest();
  const x = new Uint8Array(h.subarray(0, 32));
  x[0] = (x[0] as number) & 248;
  x[31] = ((x[31] as number) & 127) | 64;
  return x;
}

// Native X25519 is ~20x faster than JS field arithmetic. node:crypto only takes keys as KeyObjects:
// importing our own (PKCS#8) costs ~300 µs, so it is imported once per secret; a peer's public key
// comes in as JWK, ~10x cheaper than DER.
const PKCS8_X25519_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");
const privateKeys = new WeakMap<Uint8Array, KeyObject>();

function privateKeyObject(secret: Uint8Array): KeyObject {
  let key = privateKeys.get(secret);
  if (key === undefined) {
    key = createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, secret]), format: "der", type: "pkcs8" });
    privateKeys.set(secret, key);
  }
  return key;
}

export function x25519SharedSecret(mySecret: Uint8Array, peerPublic: Uint8Array): Uint8Array {
  try {
    const publicKey = createPublicKey({
      key: { kty: "OKP", crv: "X25519", x: Buffer.from(peerPublic).toString("base64url") },
      format: "jwk",
    });
    return new Uint8Array(diffieHellman({ privateKey: privateKeyObject(mySecret), publicKey }));
  } catch {
    throw new KeyError("X25519 agreement failed (invalid or low-order peer key)");
  }
}
