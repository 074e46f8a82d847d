import type { DeploymentState } from "../state/state-dir.ts";
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

/**
 * The deployment's SSH key pair (ed25519), made once and kept in the local state like the
 * identities: every cloud server of the deployment trusts it.
 */
export function ensureDeployKey(state: DeploymentState): DeployKey {
  try {
    return ensureSshKeyPair(state.prepare(state.deployKeyFile), `drasyl-deploy-${state.deployment}`);
  } catch (e) {
    throw new DeployKeyError((e as Error).message, { cause: e });
  }
}
