import { localIdentityServers, loadIdentity } from "./identities.ts";
import { readJson, writeJson } from "./json-file.ts";
import type { DeploymentState } from "./state-dir.ts";

export interface RetiredServer {
  retiredAt: string;
  publicKey?: string;
}

export function retiredServers(state: DeploymentState): Record<string, RetiredServer> {
  return readJson<Record<string, RetiredServer>>(state.retiredFile) ?? {};
}

/**
 * Servers that have a backed-up identity but are no longer in the config and not yet retired:
 * what `up` is about to remove.
 */
export function serversToRetire(state: DeploymentState, configured: readonly string[]): string[] {
  const retired = retiredServers(state);
  return localIdentityServers(state).filter((n) => !configured.includes(n) && !(n in retired));
}

/** The identities stay (a server can come back with its key); they are only marked. Configured names are un-retired. */
export function updateRetired(
  state: DeploymentState,
  retire: readonly string[],
  configured: readonly string[],
  now = new Date(),
): void {
  const current = retiredServers(state);
  const next: Record<string, RetiredServer> = {};
  for (const [n, r] of Object.entries(current)) if (!configured.includes(n)) next[n] = r;
  for (const n of retire) {
    const publicKey = loadIdentity(state, n)?.publicKeyHex;
    next[n] = { retiredAt: now.toISOString(), ...(publicKey ? { publicKey } : {}) };
  }
  if (JSON.stringify(next) !== JSON.stringify(current)) writeJson(state, state.retiredFile, next);
}
