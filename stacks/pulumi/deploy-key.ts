import { existsSync, linkSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import ssh2 from "ssh2";
import { deploymentDir, privateDir } from "../../cli/state/dirs.ts";

// ssh2 is CommonJS: Node exposes only its default export to ESM.
const { utils } = ssh2;

export class DeployKeyError extends Error {
  override readonly name = "DeployKeyError";
}

export interface DeployKey {
  /** OpenSSH private key, 0600, in a 0700 directory of the deployment's state. */
  privateKeyPath: string;
  /** One OpenSSH public key line: what the clouds and cloud-init put into authorized_keys. */
  publicKey: string;
}

export function deployKeyPath(stateDir: string, deployment: string): string {
  return join(deploymentDir(stateDir, deployment), "ssh", "id_ed25519");
}

/**
 * The deployment's SSH key pair (ed25519), made once and kept in the local state like the
 * identities: every cloud server of the deployment trusts it. Concurrent first runs are safe: the
 * private key is published with link(2), which fails when another process published one first.
 */
export function ensureDeployKey(stateDir: string, deployment: string): DeployKey {
  const privateKeyPath = deployKeyPath(stateDir, deployment);
  privateDir(join(deploymentDir(stateDir, deployment), "ssh"));
  if (!existsSync(privateKeyPath)) {
    const pair = utils.generateKeyPairSync("ed25519", { comment: `drasyl-deploy ${deployment}` });
    const tmp = `${privateKeyPath}.tmp-${process.pid}`;
    writeFileSync(tmp, pair.private, { mode: 0o600 });
    try {
      linkSync(tmp, privateKeyPath);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  const parsed = utils.parseKey(readFileSync(privateKeyPath));
  if (parsed instanceof Error) throw new DeployKeyError(`cannot read the deployment key ${privateKeyPath}: ${parsed.message}`);
  const publicKey = `${parsed.type} ${parsed.getPublicSSH().toString("base64")} drasyl-deploy-${deployment}`;
  const pubPath = `${privateKeyPath}.pub`;
  // For humans (ssh -i); always rewritten from the private key, never read back.
  if (!existsSync(pubPath) || readFileSync(pubPath, "utf8") !== `${publicKey}\n`) writeFileSync(pubPath, `${publicKey}\n`, { mode: 0o644 });
  return { privateKeyPath, publicKey };
}
