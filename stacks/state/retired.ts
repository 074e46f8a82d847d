import { existsSync, readdirSync, renameSync, unlinkSync } from "node:fs";
import type { Identity } from "../../sp-runtime/identity/identity.ts";
import { localIdentityServers, loadIdentity, publicKeyOf, saveIdentity } from "./identities.ts";
import { readJson } from "./json-file.ts";
import type { DeploymentState } from "./state-dir.ts";

/**
 * Retirement, the one way a server's identity leaves the deployment: when `up` removes a server
 * that left the config, and when `move` hands the key to the new server. The identity file is
 * renamed to `<server>.identity.retired-<date>` next to the current ones (never deleted), so the
 * name no longer has an identity, a backup reminder no longer counts it, and `identity list`
 * shows it once, as retired. A retired name that comes back into the config gets its key back,
 * unless that key now belongs to another server (it was moved there).
 */
export interface RetiredIdentity {
  server: string;
  file: string;
  retiredAt: string;
  publicKey?: string;
}

const SUFFIX = /^(.+)\.identity\.retired-(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z)$/;

/** `2026-01-02T03-04-05-000Z` (a file name's date) back to ISO 8601. */
function isoOf(stamp: string): string {
  return stamp.replace(/T(\d\d)-(\d\d)-(\d\d)-(\d{3})Z$/, "T$1:$2:$3.$4Z");
}

/** Renames the server's identity file aside; returns the new path, or undefined when there was none. */
export function retireIdentity(state: DeploymentState, server: string, now = new Date()): string | undefined {
  const file = state.identityFile(server);
  if (!existsSync(file)) return undefined;
  const to = state.retiredIdentityFile(server, now);
  renameSync(file, to);
  return to;
}

/** Every retired identity of the deployment, oldest first per server. */
export function retiredIdentities(state: DeploymentState): RetiredIdentity[] {
  if (!existsSync(state.identitiesDir)) return [];
  return readdirSync(state.identitiesDir)
    .flatMap((f) => {
      const m = SUFFIX.exec(f);
      if (!m) return [];
      const file = `${state.identitiesDir}/${f}`;
      const publicKey = publicKeyOf(file);
      return [{ server: m[1] as string, file, retiredAt: isoOf(m[2] as string), ...(publicKey ? { publicKey } : {}) }];
    })
    .sort((a, b) => a.server.localeCompare(b.server) || a.retiredAt.localeCompare(b.retiredAt));
}

/**
 * One entry per retired (server, key), the latest, leaving out names that hold an identity again:
 * what `identity list` shows.
 */
export function retiredOnce(state: DeploymentState): RetiredIdentity[] {
  const current = new Set(localIdentityServers(state));
  const latest = new Map<string, RetiredIdentity>();
  for (const r of retiredIdentities(state)) if (!current.has(r.server)) latest.set(`${r.server} ${r.publicKey}`, r);
  return [...latest.values()];
}

/** Servers with an identity that are no longer in the config: what `up` is about to remove and retire. */
export function serversToRetire(state: DeploymentState, configured: readonly string[]): string[] {
  // Marked by an earlier version (until migrateRetiredMarks): retired already, their servers gone.
  const marked = readJson<Record<string, unknown>>(state.retiredFile) ?? {};
  return localIdentityServers(state).filter((n) => !configured.includes(n) && !(n in marked));
}

/**
 * A configured server without an identity gets its latest retired one back, when no current server
 * holds that key; returns the key brought back.
 */
export function reviveIdentity(state: DeploymentState, server: string): string | undefined {
  if (existsSync(state.identityFile(server))) return undefined;
  const latest = retiredIdentities(state)
    .filter((r) => r.server === server && r.publicKey)
    .at(-1);
  if (!latest) return undefined;
  const held = new Set(localIdentityServers(state).map((n) => loadIdentity(state, n)?.publicKeyHex));
  if (held.has(latest.publicKey)) return undefined;
  renameSync(latest.file, state.identityFile(server));
  return latest.publicKey;
}

/**
 * State dirs from before retirement was one model marked retired servers in retired.json and kept
 * their identity files in place: those files are renamed like every retired identity (dated when
 * they were marked), then the marks go.
 */
export function migrateRetiredMarks(state: DeploymentState, configured: readonly string[]): void {
  const marks = readJson<Record<string, { retiredAt?: string }>>(state.retiredFile);
  if (!marks) return;
  for (const [server, mark] of Object.entries(marks)) {
    if (configured.includes(server)) continue;
    const at = mark.retiredAt ? new Date(mark.retiredAt) : new Date();
    retireIdentity(state, server, Number.isNaN(at.getTime()) ? new Date() : at);
  }
  unlinkSync(state.retiredFile);
}

/**
 * A retired identity from a backup goes back among the retired ones (a server that may come back),
 * unless the local state already holds that key for that server; returns the file written.
 */
export function restoreRetired(
  state: DeploymentState,
  server: string,
  identity: Identity,
  retiredAt: string,
): string | undefined {
  const key = identity.publicKeyHex;
  if (loadIdentity(state, server)?.publicKeyHex === key) return undefined;
  if (retiredIdentities(state).some((r) => r.server === server && r.publicKey === key)) return undefined;
  const file = state.retiredIdentityFile(server, new Date(retiredAt));
  saveIdentity(state, file, identity);
  return file;
}
