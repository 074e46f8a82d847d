import { ensureSshKeyPair } from "../ssh-keypair.ts";
import type { StateDir } from "../state/state-dir.ts";
import { LabError } from "./run.ts";

export interface LabKey {
  privateKeyPath: string;
  /** OpenSSH one-line public key, for authorized_keys. */
  publicKey: string;
}

/**
 * The operator key pair the lab puts into every host's authorized_keys, kept in the state dir
 * (shared by all lab deployments of that state dir, kept across destroy like other local state).
 */
export function ensureLabKey(state: StateDir): LabKey {
  try {
    return ensureSshKeyPair(state.prepare(state.labKeyFile), "drasyl-deploy-lab");
  } catch (e) {
    throw new LabError(`${(e as Error).message}; delete it to create a new one`, { cause: e });
  }
}
