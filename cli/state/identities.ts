import { existsSync, readdirSync, readFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { generateIdentity, type Identity } from "../../sp-runtime/identity/identity.ts";
import { formatIdentityFile, loadIdentityFile } from "../../sp-runtime/identity/identity-file.ts";
import { writeFileAtomic } from "./atomic-file.ts";
import { deploymentDir, privateDir } from "./dirs.ts";

/**
 * Super peer identities live on the operator's machine first: generated (with proof of work) and
 * saved before anything is pushed, so the public key is known and backed up before the server
 * exists, and a lost server can be rebuilt with the same key. An identity that is replaced or
 * retired is never deleted: it stays next to the current one, named after what happened to it.
 */
function identitiesDir(stateDir: string, deployment: string): string {
  return privateDir(join(deploymentDir(stateDir, deployment), "identities"));
}

export function identityFile(stateDir: string, deployment: string, server: string): string {
  return join(identitiesDir(stateDir, deployment), `${server}.identity`);
}

function stamp(now: Date): string {
  return now.toISOString().replace(/[:.]/g, "-");
}

/** Atomic, 0600, and read back: an identity write that did not stick is an error, not a lost key. */
export function saveIdentity(file: string, identity: Identity): void {
  writeFileAtomic(file, formatIdentityFile(identity));
  if (loadIdentityFile(file)?.publicKeyHex !== identity.publicKeyHex) throw new Error(`${file} does not hold the identity just written: check the disk`);
}

export async function ensureIdentity(stateDir: string, deployment: string, server: string): Promise<{ identity: Identity; created: boolean }> {
  const file = identityFile(stateDir, deployment, server);
  const existing = loadIdentityFile(file);
  if (existing) return { identity: existing, created: false };
  const identity = await generateIdentity();
  saveIdentity(file, identity);
  return { identity, created: true };
}

export function loadIdentity(stateDir: string, deployment: string, server: string): Identity | undefined {
  return loadIdentityFile(identityFile(stateDir, deployment, server));
}

/** The servers that have an identity in the local state. */
export function localIdentityServers(stateDir: string, deployment: string): string[] {
  return readdirSync(identitiesDir(stateDir, deployment))
    .filter((f) => f.endsWith(".identity") && !f.startsWith("."))
    .map((f) => f.slice(0, -".identity".length))
    .sort();
}

/**
 * Makes `identity` the server's identity. A different one it replaces is first copied (not moved:
 * at every instant the server has a current identity) to `<server>.identity.replaced-<date>`,
 * whose path is returned.
 */
export function replaceIdentity(stateDir: string, deployment: string, server: string, identity: Identity, now = new Date()): string | undefined {
  const file = identityFile(stateDir, deployment, server);
  const current = loadIdentityFile(file);
  if (current?.publicKeyHex === identity.publicKeyHex && current.pow === identity.pow) return undefined;
  let kept: string | undefined;
  if (current) {
    kept = `${file}.replaced-${stamp(now)}`;
    saveIdentity(kept, current);
  }
  saveIdentity(file, identity);
  return kept;
}

/** After a move: the old server name's identity is set aside (the key lives on under the new name). */
export function retireIdentity(stateDir: string, deployment: string, server: string, now = new Date()): string | undefined {
  const file = identityFile(stateDir, deployment, server);
  if (!existsSync(file)) return undefined;
  const to = `${file}.retired-${stamp(now)}`;
  renameSync(file, to);
  return to;
}

/** Earlier identities of a server kept in the local state, oldest first. */
export function previousIdentities(stateDir: string, deployment: string, server: string): { file: string; kind: "replaced" | "retired"; publicKey?: string }[] {
  const dir = identitiesDir(stateDir, deployment);
  const prefix = `${server}.identity.`;
  return readdirSync(dir)
    .filter((f) => f.startsWith(prefix) && /^(replaced|retired)-/.test(f.slice(prefix.length)))
    .sort()
    .map((f) => {
      const file = join(dir, f);
      let publicKey: string | undefined;
      try {
        publicKey = loadIdentityFile(file)?.publicKeyHex;
      } catch {
        publicKey = undefined;
      }
      return { file, kind: f.slice(prefix.length).startsWith("replaced") ? "replaced" : "retired", ...(publicKey ? { publicKey } : {}) };
    });
}

export interface BackupRecord {
  at: string;
  file: string;
  /** server -> public key, as held in the archive. */
  keys: Record<string, string>;
}

const KEEP_BACKUP_RECORDS = 50;

function backupsFile(stateDir: string, deployment: string): string {
  return join(deploymentDir(stateDir, deployment), "backups.json");
}

export function backupRecords(stateDir: string, deployment: string): BackupRecord[] {
  try {
    return (JSON.parse(readFileSync(backupsFile(stateDir, deployment), "utf8")) as { backups: BackupRecord[] }).backups;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw new Error(`${backupsFile(stateDir, deployment)} is unreadable (${(e as Error).message}); move it away to start a new backup history`, { cause: e });
  }
}

export function recordBackup(stateDir: string, deployment: string, record: BackupRecord): void {
  const all = [...backupRecords(stateDir, deployment), record].slice(-KEEP_BACKUP_RECORDS);
  writeFileAtomic(backupsFile(stateDir, deployment), `${JSON.stringify({ backups: all }, null, 2)}\n`);
}

/** When this key last went into a backup, if ever (under any server name: a moved super peer keeps its key). */
export function lastBackupOf(records: BackupRecord[], publicKey: string): BackupRecord | undefined {
  return records.filter((r) => Object.values(r.keys).includes(publicKey)).at(-1);
}

/**
 * Identities restored from a backup that the next `up` installs even over a different identity on
 * the server (the operator already confirmed the restore): server -> public key.
 */
function restoredFile(stateDir: string, deployment: string): string {
  return join(deploymentDir(stateDir, deployment), "restored.json");
}

export function pendingRestores(stateDir: string, deployment: string): Record<string, string> {
  try {
    return JSON.parse(readFileSync(restoredFile(stateDir, deployment), "utf8")) as Record<string, string>;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw e;
  }
}

export function setPendingRestores(stateDir: string, deployment: string, pending: Record<string, string>): void {
  writeFileAtomic(restoredFile(stateDir, deployment), `${JSON.stringify(pending, null, 2)}\n`);
}

/** The health probe's own node identity, mined once per state dir instead of once per command. */
export async function probeIdentity(stateDir: string): Promise<Identity> {
  const file = join(privateDir(stateDir), "probe.identity");
  const existing = loadIdentityFile(file);
  if (existing) return existing;
  const identity = await generateIdentity();
  saveIdentity(file, identity);
  return identity;
}
