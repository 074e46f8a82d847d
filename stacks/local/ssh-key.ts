import { join } from "node:path";
import { ensureSshKeyPair } from "../ssh-keypair.ts";
import { LabError } from "./run.ts";

export interface LabKey {
  privateKeyPath: string;
  /** OpenSSH one-line public key, for authorized_keys. */
  publicKey: string;
}

export function labKeyPath(labDir: string): string {
  return join(labDir, "operator_ed25519");
}

/**
 * The operator key pair the lab puts into every host's authorized_keys, kept in `<stateDir>/lab`
 * (shared by all lab deployments of that state dir, kept across destroy like other local state).
 */
export function ensureLabKey(labDir: string): LabKey {
  try {
    return ensureSshKeyPair(labKeyPath(labDir), "drasyl-deploy-lab");
  } catch (e) {
    throw new LabError(`${(e as Error).message}; delete it to create a new one`, { cause: e });
  }
}
