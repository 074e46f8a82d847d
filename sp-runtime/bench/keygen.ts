import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { ed25519PublicToX25519 } from "../crypto/keys.ts";
import { computeSessionKeys } from "../crypto/session.ts";
import { Identity } from "../identity/identity.ts";
import { bytesEqual } from "../util/hex.ts";

/**
 * Many simulated peers, cheaply: every peer needs its own Ed25519 key (the super peer's table is
 * keyed by it) and the session keys it shares with the super peer (to arm HELLOs and open ACKs).
 *
 * The project's own path (Identity + computeSessionKeys) costs ~1 ms per peer here: noble's JS
 * Ed25519 and node:crypto's DER import of X25519 keys dominate. 50k peers would take most of the
 * bench budget, so this derives the same values with native node:crypto only, importing private
 * keys as JWK (~25 µs instead of ~310 µs for DER PKCS#8 under OpenSSL 3), in worker threads
 * (~170 µs per peer per thread). Worker code is eval'd JS, as in identity/pow.ts: Node 20 workers
 * cannot load .ts through tsx. The result is cross-checked against the project's implementation
 * (checkPeerKeys), so a mismatch is loud.
 *
 * Never export OKP keys as JWK here: on Node 20.20, KeyObject.export({format: "jwk"}) of Ed25519
 * or X25519 keys deadlocks after a few thousand calls (main thread blocked on a mutex in
 * ~KeyGenJob, entered from a GC inside ExportJWKEdKey; seen with gdb). DER export does not.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { createPrivateKey, createPublicKey, diffieHellman, createHash, randomFillSync } = require("node:crypto");
const { count, spX } = workerData;
const sp = Buffer.from(spX);
const jwk = (crv, d) => ({ key: { kty: "OKP", crv, d: d.toString("base64url"), x: "" }, format: "jwk" });
const spki = (prefix, raw) => createPublicKey({ key: Buffer.concat([Buffer.from(prefix, "hex"), raw]), format: "der", type: "spki" });
const X25519_SPKI = "302a300506032b656e032100";
const spPub = spki(X25519_SPKI, sp);
// X25519(k, 9) is k's public key, returned raw: cheaper than exporting a KeyObject.
const basePoint = spki(X25519_SPKI, Buffer.concat([Buffer.from([9]), Buffer.alloc(31)]));
const out = new Uint8Array(count * 128);
const seed = Buffer.alloc(32);
for (let i = 0; i < count; i++) {
  randomFillSync(seed);
  // With d given, node derives the public half itself and only checks that x is a string.
  const pk = createPublicKey(createPrivateKey(jwk("Ed25519", seed))).export({ format: "der", type: "spki" }).subarray(12);
  // crypto_sign_ed25519_sk_to_curve25519 (protocol.md s3.4)
  const xs = createHash("sha512").update(seed).digest().subarray(0, 32);
  xs[0] &= 248; xs[31] = (xs[31] & 127) | 64;
  const xPriv = createPrivateKey(jwk("X25519", xs));
  const xPub = diffieHellman({ privateKey: xPriv, publicKey: basePoint });
  const q = diffieHellman({ privateKey: xPriv, publicKey: spPub });
  // crypto_kx: the client is the side with the smaller X25519 key (protocol.md s3.5)
  const client = Buffer.compare(xPub, sp) < 0;
  const d = createHash("blake2b512").update(q).update(client ? xPub : sp).update(client ? sp : xPub).digest();
  const o = i * 128;
  out.set(seed, o);
  out.set(pk, o + 32);
  out.set(client ? d.subarray(32, 64) : d.subarray(0, 32), o + 64); // tx
  out.set(client ? d.subarray(0, 32) : d.subarray(32, 64), o + 96); // rx
}
parentPort.postMessage(out, [out.buffer]);
`;

/** Keys of `count` simulated peers in one slab: peer i owns bytes [128i, 128i+128) = seed | pk | tx | rx. */
export class PeerKeys {
  readonly count: number;
  private readonly slab: Uint8Array;

  constructor(slab: Uint8Array) {
    if (slab.length % 128 !== 0) throw new RangeError("peer key slab must be a multiple of 128 bytes");
    this.slab = slab;
    this.count = slab.length / 128;
  }

  seed(i: number): Uint8Array {
    return this.slab.subarray(i * 128, i * 128 + 32);
  }
  publicKey(i: number): Uint8Array {
    return this.slab.subarray(i * 128 + 32, i * 128 + 64);
  }
  /** Arms what peer i sends to the super peer. */
  tx(i: number): Uint8Array {
    return this.slab.subarray(i * 128 + 64, i * 128 + 96);
  }
  /** Opens what the super peer sends to peer i. */
  rx(i: number): Uint8Array {
    return this.slab.subarray(i * 128 + 96, i * 128 + 128);
  }
  /** The full identity (PoW 0: the bench daemon runs with DRASYL_MIN_POW_DIFFICULTY=0). Slow; for a handful of peers. */
  identity(i: number): Identity {
    const sk = new Uint8Array(64);
    sk.set(this.seed(i), 0);
    sk.set(this.publicKey(i), 32);
    return new Identity(sk, 0);
  }
}

/** Generates `count` peers' keys with the super peer whose X25519 public key is `spXPublic`, on `threads` workers. */
export async function generatePeerKeys(
  count: number,
  spXPublic: Uint8Array,
  threads = availableParallelism(),
): Promise<PeerKeys> {
  const n = Math.max(1, Math.min(threads, count));
  const per = Math.ceil(count / n);
  const workers: Worker[] = [];
  try {
    const parts = await Promise.all(
      Array.from({ length: n }, (_, k) => {
        const c = Math.max(0, Math.min(per, count - k * per));
        return new Promise<Uint8Array>((resolve, reject) => {
          const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { count: c, spX: spXPublic } });
          workers.push(w);
          w.once("message", (out: Uint8Array) => resolve(out));
          w.once("error", reject);
          w.once("exit", (code) => reject(new Error(`keygen worker exited with code ${code}`)));
        });
      }),
    );
    const slab = new Uint8Array(count * 128);
    let off = 0;
    for (const p of parts) {
      slab.set(p, off);
      off += p.length;
    }
    return new PeerKeys(slab);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/**
 * Recomputes a few peers with the project's own code (Identity checks that the public key belongs
 * to the seed; computeSessionKeys is what the daemon runs) and throws on any difference.
 */
export function checkPeerKeys(keys: PeerKeys, spXPublic: Uint8Array, samples = 4): void {
  for (let s = 0; s < Math.min(samples, keys.count); s++) {
    const i = Math.floor((s * keys.count) / Math.min(samples, keys.count));
    const id = keys.identity(i);
    if (!bytesEqual(id.xPublic, ed25519PublicToX25519(keys.publicKey(i))))
      throw new Error(`keygen: peer ${i} X25519 key mismatch`);
    const session = computeSessionKeys(id.xPublic, id.xSecret, spXPublic);
    if (!bytesEqual(session.tx, keys.tx(i)) || !bytesEqual(session.rx, keys.rx(i)))
      throw new Error(`keygen: peer ${i} session keys differ from computeSessionKeys`);
  }
}
