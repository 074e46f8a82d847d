import { identityNames, loadIdentity } from "./identities.ts";
import { readJson, writeJson } from "./json-file.ts";
import { records } from "./records.ts";

export interface RetiredServer {
  retiredAt: string;
  publicKey?: string;
}

export function retiredServers(stateDir: string, deployment: string): Record<string, RetiredServer> {
  return readJson<Record<string, RetiredServer>>(records.retired(stateDir, deployment)) ?? {};
}

/**
 * Servers that have a backed-up identity but are no longer in the config and not yet retired:
 * what `up` is about to remove.
 */
export function serversToRetire(stateDir: string, deployment: string, configured: readonly string[]): string[] {
  const retired = retiredServers(stateDir, deployment);
  return identityNames(stateDir, deployment).filter((n) => !configured.includes(n) && !(n in retired));
}

/** The identities stay (a server can come back with its key); they are only marked. Configured names are un-retired. */
export function updateRetired(stateDir: string, deployment: string, retire: readonly string[], configured: readonly string[], now = new Date()): void {
  const current = retiredServers(stateDir, deployment);
  const next: Record<string, RetiredServer> = {};
  for (const [n, r] of Object.entries(current)) if (!configured.includes(n)) next[n] = r;
  for (const n of retire) {
    const publicKey = loadIdentity(stateDir, deployment, n)?.publicKeyHex;
    next[n] = { retiredAt: now.toISOString(), ...(publicKey ? { publicKey } : {}) };
  }
  if (JSON.stringify(next) !== JSON.stringify(current)) writeJson(records.retired(stateDir, deployment), next);
}
