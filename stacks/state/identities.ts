import { existsSync, renameSync } from "node:fs";
import { generateIdentity, type Identity } from "../../sp-runtime/identity/identity.ts";
import { loadIdentityFile, saveIdentityFile } from "../../sp-runtime/identity/identity-file.ts";
import type { PowSearchOptions } from "../../sp-runtime/identity/pow.ts";
import type { DeploymentState, StateDir } from "./state-dir.ts";

/**
 * Super peer identities live on the operator's machine first: generated (with proof of work) and
 * saved before anything is pushed, so the public key is known and backed up before the server
 * exists, and a lost server can be rebuilt with the same key.
 */
export async function ensureIdentity(state: DeploymentState, server: string, pow?: PowSearchOptions): Promise<{ identity: Identity; created: boolean }> {
  return ensureIdentityFile(state, state.identityFile(server), { ...(pow ? { pow } : {}) });
}

export function loadIdentity(state: DeploymentState, server: string): Identity | undefined {
  return loadIdentityFile(state.identityFile(server));
}

/** Makes `identity` the server's identity, keeping the one it replaces next to it. */
export function adoptIdentity(state: DeploymentState, server: string, identity: Identity): string | undefined {
  const file = state.prepare(state.identityFile(server));
  let kept: string | undefined;
  if (existsSync(file)) {
    kept = state.replacedIdentityFile(server, new Date());
    renameSync(file, kept);
  }
  saveIdentityFile(file, identity);
  return kept;
}

/** The health probe's own node identity, mined once per state dir instead of once per command. */
export async function probeIdentity(state: StateDir): Promise<Identity> {
  return (await ensureIdentityFile(state, state.probeIdentityFile)).identity;
}

/**
 * The identity in `file`, generated (proof of work, a few seconds) and saved when there is none.
 * `pow` lowers the difficulty for tests; super peers ignore nodes below their minimum (24 by default).
 */
export async function ensureIdentityFile(
  state: StateDir,
  file: string,
  opts: { onGenerate?: () => void; pow?: PowSearchOptions } = {},
): Promise<{ identity: Identity; created: boolean }> {
  const existing = loadIdentityFile(file);
  if (existing) return { identity: existing, created: false };
  opts.onGenerate?.();
  const identity = await generateIdentity(opts.pow);
  saveIdentityFile(state.prepare(file), identity);
  return { identity, created: true };
}
