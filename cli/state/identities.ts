import { existsSync, readdirSync, renameSync } from "node:fs";
import { join } from "node:path";
import { generateIdentity, type Identity } from "../../sp-runtime/identity/identity.ts";
import { loadIdentityFile, saveIdentityFile } from "../../sp-runtime/identity/identity-file.ts";
import { deploymentDir, privateDir } from "./dirs.ts";

/**
 * Super peer identities live on the operator's machine first: generated (with proof of work) and
 * saved before anything is pushed, so the public key is known and backed up before the server
 * exists, and a lost server can be rebuilt with the same key.
 */
export function identityFile(stateDir: string, deployment: string, server: string): string {
  return join(identitiesDir(stateDir, deployment), `${server}.identity`);
}

function identitiesDir(stateDir: string, deployment: string): string {
  return privateDir(join(deploymentDir(stateDir, deployment), "identities"));
}

/** Every server that has a backed-up identity, including ones no longer in the config. */
export function identityNames(stateDir: string, deployment: string): string[] {
  return readdirSync(identitiesDir(stateDir, deployment))
    .filter((f) => f.endsWith(".identity"))
    .map((f) => f.slice(0, -".identity".length))
    .sort();
}

export async function ensureIdentity(stateDir: string, deployment: string, server: string): Promise<{ identity: Identity; created: boolean }> {
  const file = identityFile(stateDir, deployment, server);
  const existing = loadIdentityFile(file);
  if (existing) return { identity: existing, created: false };
  const identity = await generateIdentity();
  saveIdentityFile(file, identity);
  return { identity, created: true };
}

export function loadIdentity(stateDir: string, deployment: string, server: string): Identity | undefined {
  return loadIdentityFile(identityFile(stateDir, deployment, server));
}

/** Makes `identity` the server's identity, keeping the one it replaces next to it. */
export function adoptIdentity(stateDir: string, deployment: string, server: string, identity: Identity): string | undefined {
  const file = identityFile(stateDir, deployment, server);
  let kept: string | undefined;
  if (existsSync(file)) {
    kept = `${file}.replaced-${new Date().toISOString().replace(/[:.]/g, "-")}`;
    renameSync(file, kept);
  }
  saveIdentityFile(file, identity);
  return kept;
}

/** The health probe's own node identity, mined once per state dir instead of once per command. */
export async function probeIdentity(stateDir: string): Promise<Identity> {
  const file = join(privateDir(stateDir), "probe.identity");
  const existing = loadIdentityFile(file);
  if (existing) return existing;
  const identity = await generateIdentity();
  saveIdentityFile(file, identity);
  return identity;
}
