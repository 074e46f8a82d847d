import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename } from "node:path";
import { generateIdentity, type Identity } from "../../sp-runtime/identity/identity.ts";
import { formatIdentityFile, loadIdentityFile } from "../../sp-runtime/identity/identity-file.ts";
import type { PowSearchOptions } from "../../sp-runtime/identity/pow.ts";
import { writeFileAtomic } from "../../sp-runtime/util/atomic-write.ts";
import type { DeploymentState, StateDir } from "./state-dir.ts";

/**
 * Super peer identities live on the operator's machine first: generated (with proof of work) and
 * saved before anything is pushed, so the public key is known and backed up before the server
 * exists, and a lost server can be rebuilt with the same key. An identity that is replaced or
 * retired (retired.ts) is never deleted: it stays next to the current one, named after what happened to it.
 */
export async function ensureIdentity(
  state: DeploymentState,
  server: string,
  pow?: PowSearchOptions,
): Promise<{ identity: Identity; created: boolean }> {
  return ensureIdentityFile(state, state.identityFile(server), { ...(pow ? { pow } : {}) });
}

export function loadIdentity(state: DeploymentState, server: string): Identity | undefined {
  return loadIdentityFile(state.identityFile(server));
}

/** Atomic, 0600, and read back: an identity write that did not stick is an error, not a lost key. */
export function saveIdentity(state: StateDir, file: string, identity: Identity): void {
  writeFileAtomic(state.prepare(file), formatIdentityFile(identity));
  if (loadIdentityFile(file)?.publicKeyHex !== identity.publicKeyHex)
    throw new Error(`${file} does not hold the identity just written: check the disk`);
}

/** The servers that have an identity in the local state. */
export function localIdentityServers(state: DeploymentState): string[] {
  if (!existsSync(state.identitiesDir)) return [];
  return readdirSync(state.identitiesDir)
    .filter((f) => f.endsWith(".identity") && !f.startsWith("."))
    .map((f) => f.slice(0, -".identity".length))
    .sort();
}

/**
 * Makes `identity` the server's identity. A different one it replaces is first copied (not moved:
 * at every instant the server has a current identity) to `<server>.identity.replaced-<date>`,
 * whose path is returned.
 */
export function replaceIdentity(
  state: DeploymentState,
  server: string,
  identity: Identity,
  now = new Date(),
): string | undefined {
  const file = state.identityFile(server);
  const current = loadIdentityFile(file);
  if (current?.publicKeyHex === identity.publicKeyHex && current.pow === identity.pow) return undefined;
  let kept: string | undefined;
  if (current) {
    kept = state.replacedIdentityFile(server, now);
    saveIdentity(state, kept, current);
  }
  saveIdentity(state, file, identity);
  return kept;
}

/** The public key of a kept identity file, or undefined for one that no longer reads as an identity: listing must go on. */
export function publicKeyOf(file: string): string | undefined {
  try {
    return loadIdentityFile(file)?.publicKeyHex;
  } catch {
    return undefined;
  }
}

/** Earlier identities of a server kept in the local state, oldest first. */
export function previousIdentities(
  state: DeploymentState,
  server: string,
): { file: string; kind: "replaced" | "retired"; publicKey?: string }[] {
  const prefix = `${basename(state.identityFile(server))}.`;
  if (!existsSync(state.identitiesDir)) return [];
  return readdirSync(state.identitiesDir)
    .filter((f) => f.startsWith(prefix) && /^(replaced|retired)-/.test(f.slice(prefix.length)))
    .sort()
    .map((f) => {
      const file = `${state.identitiesDir}/${f}`;
      const publicKey = publicKeyOf(file);
      return {
        file,
        kind: f.slice(prefix.length).startsWith("replaced") ? "replaced" : "retired",
        ...(publicKey ? { publicKey } : {}),
      };
    });
}

export interface BackupRecord {
  at: string;
  file: string;
  /** server -> public key, as held in the archive. */
  keys: Record<string, string>;
}

const KEEP_BACKUP_RECORDS = 50;

export function backupRecords(state: DeploymentState): BackupRecord[] {
  try {
    return (JSON.parse(readFileSync(state.backupsFile, "utf8")) as { backups: BackupRecord[] }).backups;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw new Error(
      `${state.backupsFile} is unreadable (${(e as Error).message}); move it away to start a new backup history`,
      { cause: e },
    );
  }
}

export function recordBackup(state: DeploymentState, record: BackupRecord): void {
  const all = [...backupRecords(state), record].slice(-KEEP_BACKUP_RECORDS);
  writeFileAtomic(state.prepare(state.backupsFile), `${JSON.stringify({ backups: all }, null, 2)}\n`);
}

/** When this key last went into a backup, if ever (under any server name: a moved super peer keeps its key). */
export function lastBackupOf(records: BackupRecord[], publicKey: string): BackupRecord | undefined {
  return records.filter((r) => Object.values(r.keys).includes(publicKey)).at(-1);
}

/**
 * Identities restored from a backup that the next `up` installs even over a different identity on
 * the server (the operator already confirmed the restore): server -> public key.
 */
export function pendingRestores(state: DeploymentState): Record<string, string> {
  try {
    return JSON.parse(readFileSync(state.restoredFile, "utf8")) as Record<string, string>;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw e;
  }
}

export function setPendingRestores(state: DeploymentState, pending: Record<string, string>): void {
  writeFileAtomic(state.prepare(state.restoredFile), `${JSON.stringify(pending, null, 2)}\n`);
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
  saveIdentity(state, file, identity);
  return { identity, created: true };
}
