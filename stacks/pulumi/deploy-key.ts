import { join } from "node:path";
import { deploymentDir, privateDir } from "../../cli/state/dirs.ts";
import { ensureSshKeyPair } from "../ssh-keypair.ts";

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
 * identities: every cloud server of the deployment trusts it.
 */
export function ensureDeployKey(stateDir: string, deployment: string): DeployKey {
  privateDir(join(deploymentDir(stateDir, deployment), "ssh"));
  try {
    return ensureSshKeyPair(deployKeyPath(stateDir, deployment), `drasyl-deploy-${deployment}`);
  } catch (e) {
    throw new DeployKeyError((e as Error).message, { cause: e });
  }
}
