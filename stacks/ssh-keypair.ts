import { existsSync, readFileSync } from "node:fs";
import ssh2 from "ssh2";
import { writeFileAtomic } from "../sp-runtime/util/atomic-write.ts";

// ssh2 is CommonJS: Node exposes only its default export to ESM.
const { utils } = ssh2;

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
  if (!existsSync(privateKeyPath)) writeFileAtomic(privateKeyPath, utils.generateKeyPairSync("ed25519", { comment }).private, { exclusive: true });
  const parsed = utils.parseKey(readFileSync(privateKeyPath));
  if (parsed instanceof Error) throw new Error(`cannot read the SSH key ${privateKeyPath}: ${parsed.message}`);
  const publicKey = `${parsed.type} ${parsed.getPublicSSH().toString("base64")} ${comment}`;
  const pubPath = `${privateKeyPath}.pub`;
  // The .pub file is for humans (ssh -i); it is rewritten from the private key, never trusted.
  if (!existsSync(pubPath) || readFileSync(pubPath, "utf8") !== `${publicKey}\n`) writeFileAtomic(pubPath, `${publicKey}\n`, { mode: 0o644 });
  return { privateKeyPath, publicKey };
}
