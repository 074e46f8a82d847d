import { constants, createPublicKey, type KeyObject, publicEncrypt } from "node:crypto";

/**
 * The Ed25519 -> X25519 public key map u = (1+y)/(1-y) mod p, with the point checks of RFC 8032
 * decoding (what noble's Point.fromBytes + toMontgomery and libsodium's
 * crypto_sign_ed25519_pk_to_curve25519 refuse), for a super peer's first contact with a node.
 *
 * In BigInt arithmetic the square-root test and the inversion cost ~100 µs per key, more than all
 * the rest of a new peer. Together they are one modular exponentiation mod p = 2^255 - 19, and node:crypto
 * has a native one that takes any modulus: the raw RSA public operation m^e mod n, here with
 * n = p, which OpenSSL computes for any odd modulus and exponent below it, in ~15 µs. These "keys"
 * are exponentiation constants, not keys: nothing is encrypted and no secret is involved.
 */

const P = (1n << 255n) - 19n;
/** Edwards d = -121665/121666 mod p. */
const D = 37095705934669439343138083508754565189542113879843219016388785533085940283555n;

let exponentKey: KeyObject | undefined;

function be32(x: bigint): Buffer {
  return Buffer.from(x.toString(16).padStart(64, "0"), "hex");
}

function powKey(exponent: bigint): KeyObject {
  return createPublicKey({
    key: { kty: "RSA", n: be32(P).toString("base64url"), e: be32(exponent).toString("base64url") },
    format: "jwk",
  });
}

/** x^e mod p for the e of `key`, x in [0, p). */
function modPow(key: KeyObject, x: bigint): bigint {
  return BigInt(`0x${publicEncrypt({ key, padding: constants.RSA_NO_PADDING }, be32(x)).toString("hex")}`);
}

/** Returns the X25519 public key, or undefined when `pk` is not the encoding of an Edwards point. */
export function edwardsToMontgomery(pk: Uint8Array): Uint8Array | undefined {
  const le = Buffer.from(pk);
  const signBit = (le[31] as number) >>> 7;
  le[31] = (le[31] as number) & 0x7f;
  const y = BigInt(`0x${le.reverse().toString("hex")}`);
  if (y >= P) return undefined;
  // x^2 = (y^2 - 1) / (d y^2 + 1) needs a square root; the denominator is never 0 (d is not a square).
  const y2 = (y * y) % P;
  const num = (y2 + P - 1n) % P;
  const den = (D * y2 + 1n) % P;
  let u = 0n;
  if (num === 0n) {
    // x = 0 (y = +-1): the sign bit must be 0, and y = 1 maps to u = 1/0; y = -1 maps to u = 0.
    if (signBit === 1 || y === 1n) return undefined;
  } else {
    // One exponentiation answers both questions. With a = num * den (a square exactly when
    // num / den is), b = 1 - y (not 0 here) and c = a b^2, which is a square exactly when a is:
    // r = c^((p-3)/2) = chi(c) / c, so c r is Euler's criterion chi(c), and when that is 1,
    // r = 1 / (a b^2) and 1 / b = r a b.
    const a = (num * den) % P;
    const b = (1n - y + P) % P;
    const c = (a * ((b * b) % P)) % P;
    exponentKey ??= powKey((P - 3n) / 2n);
    const r = modPow(exponentKey, c);
    if ((c * r) % P !== 1n) return undefined;
    u = ((1n + y) * ((((r * a) % P) * b) % P)) % P;
  }
  const out = be32(u).reverse();
  return new Uint8Array(out.buffer, out.byteOffset, 32);
}
