import { checkSecretKey, ed25519PublicToX25519, ed25519SecretToX25519, generateSecretKey } from "../crypto/keys.ts";
import { bytesToHex } from "../util/hex.ts";
import { DEFAULT_POW_DIFFICULTY, generatePow, type PowSearchOptions } from "./pow.ts";

/** A node's or super peer's long-term identity, with the X25519 keys derived once. */
export class Identity {
  readonly publicKey: Uint8Array;
  readonly xPublic: Uint8Array;
  readonly xSecret: Uint8Array;
  readonly secretKey: Uint8Array;
  readonly pow: number;

  constructor(secretKey: Uint8Array, pow: number) {
    checkSecretKey(secretKey);
    if (!Number.isInteger(pow) || pow < -0x80000000 || pow > 0x7fffffff) {
      throw new RangeError(`proof of work must be a 32-bit signed integer, got ${pow}`);
    }
    this.secretKey = secretKey;
    this.pow = pow;
    this.publicKey = secretKey.slice(32, 64);
    this.xPublic = ed25519PublicToX25519(this.publicKey);
    this.xSecret = ed25519SecretToX25519(secretKey);
  }

  get publicKeyHex(): string {
    return bytesToHex(this.publicKey);
  }
}

export async function generateIdentity(options: PowSearchOptions = {}): Promise<Identity> {
  const sk = generateSecretKey();
  const pow = await generatePow(sk.subarray(32), {
    ...options,
    difficulty: options.difficulty ?? DEFAULT_POW_DIFFICULTY,
  });
  return new Identity(sk, pow);
}
