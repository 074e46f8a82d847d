import { existsSync, readFileSync } from "node:fs";
import ssh2 from "ssh2";
import { writeFileAtomic } from "../sp-runtime/util/atomic-write.ts";

// ssh2 is CommonJS: Node exposes only its default export to ESM.
const { utils } = ssh2;

/**
 * An OpenSSH ed25519 private key that ssh2 can read back. ssh2 1.17 strips leading zero bytes off
 * the public key it embeds, so about 1 key in 256 has a 31-byte public key that its own parseKey
 * rejects as malformed (mscdex/ssh2#1513); such a key is thrown away and another one made.
 */
export function generateEd25519PrivateKey(comment: string): string {
  for (;;) {
    const pair = utils.generateKeyPairSync("ed25519", { comment });
    if (!(utils.parseKey(pair.private) instanceof Error) && !(utils.parseKey(pair.public) instanceof Error))
      return pair.private;
  }
}

export interface SshKeyPair {
  /** OpenSSH private key, 0600. */
  privateKeyPath: string;
  /** One OpenSSH public key line, for authorized_keys. */
  publicKey: string;
}

/**
 * An ed25519 key pair at `privateKeyPath`, made once. Concurrent first runs race safely: the
 * private key is published exclusively, so whichever run publishes first wins, and the public key
 * is derived from the private key that won. Throws a plain Error naming the file when an existing
 * key cannot be read.
 */
export function ensureSshKeyPair(privateKeyPath: string, comment: string): SshKeyPair {
  if (!existsSync(privateKeyPath))
    writeFileAtomic(privateKeyPath, generateEd25519PrivateKey(comment), { exclusive: true });
  const parsed = utils.parseKey(readFileSync(privateKeyPath));
  if (parsed instanceof Error) throw new Error(`cannot read the SSH key ${privateKeyPath}: ${parsed.message}`);
  const publicKey = `${parsed.type} ${parsed.getPublicSSH().toString("base64")} ${comment}`;
  const pubPath = `${privateKeyPath}.pub`;
  // The .pub file is for humans (ssh -i); it is rewritten from the private key, never trusted.
  if (!existsSync(pubPath) || readFileSync(pubPath, "utf8") !== `${publicKey}\n`)
    writeFileAtomic(pubPath, `${publicKey}\n`, { mode: 0o644 });
  return { privateKeyPath, publicKey };
}
