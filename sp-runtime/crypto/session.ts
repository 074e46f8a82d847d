import { createHash } from "node:crypto";
import { bytesEqual, compareBytes } from "../util/hex.ts";
import { KeyError, x25519SharedSecret } from "./keys.ts";

export interface SessionKeys {
  /** Opens what the peer armed. */
  rx: Uint8Array;
  /** Arms what we send to the peer. */
  tx: Uint8Array;
}

/**
 * libsodium crypto_kx, with the client chosen as the side whose X25519 key sorts first
 * (protocol.md s3.5); choosing by Ed25519 key would silently produce keys no Rust node shares.
 */
export function computeSessionKeys(myXPublic: Uint8Array, myXSecret: Uint8Array, peerXPublic: Uint8Array): SessionKeys {
  if (bytesEqual(myXPublic, peerXPublic)) throw new KeyError("session keys would be identical: peer has our own key");
  const q = x25519SharedSecret(myXSecret, peerXPublic);
  if (q.every((b) => b === 0)) throw new KeyError("X25519 agreement is non-contributory");
  const iAmClient = compareBytes(myXPublic, peerXPublic) < 0;
  const client = iAmClient ? myXPublic : peerXPublic;
  const server = iAmClient ? peerXPublic : myXPublic;
  const d = new Uint8Array(createHash("blake2b512").update(q).update(client).update(server).digest());
  const first = d.slice(0, 32);
  const second = d.slice(32, 64);
  return iAmClient ? { rx: first, tx: second } : { rx: second, tx: first };
}
