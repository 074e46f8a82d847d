import { existsSync, readFileSync } from "node:fs";
import type { Identity } from "../../sp-runtime/identity/identity.ts";
import { type Archive, archiveEntry, type ArchiveEntry, parseArchive, serializeArchive } from "./archive.ts";
import { decryptBackup, encryptBackup, isAgeFile, type Protection, type Unlock } from "./encryption.ts";
import { writeFileAtomic } from "../../sp-runtime/util/atomic-write.ts";

/** Backup, verify and restore as steps over plain data; the command layer only adds I/O and questions. */
export interface HeldIdentity {
  server: string;
  region: string;
  identity: Identity;
  retiredAt?: string;
}

export function buildArchive(deployment: string, networkId: number, held: HeldIdentity[], now = new Date()): Archive {
  return {
    deployment,
    networkId,
    createdAt: now.toISOString(),
    entries: held.map((h) => ({
      ...archiveEntry(h.server, h.region, h.identity),
      ...(h.retiredAt ? { retiredAt: h.retiredAt } : {}),
    })),
  };
}

/** Encrypts and writes the archive atomically, 0600; never writes anything that is not an age file. */
export async function writeBackup(file: string, archive: Archive, protection: Protection): Promise<void> {
  const bytes = await encryptBackup(serializeArchive(archive), protection);
  if (!isAgeFile(bytes)) throw new Error("refusing to write an unencrypted backup");
  writeFileAtomic(file, bytes, { mode: 0o600 });
  if (!Buffer.from(bytes).equals(readFileSync(file)))
    throw new Error(`${file} does not read back as written: check the disk, and keep the previous backup`);
}

/** Decrypts and checks every entry; throws with a message that names the problem and holds no secret. */
export async function readBackup(file: string, unlock: Unlock): Promise<Archive> {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (e) {
    throw new Error(`${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, {
      cause: e,
    });
  }
  return parseArchive(await decryptBackup(data, unlock, file));
}

/** "retired": an entry for a retired identity, restored as retired (never as a server's current identity). */
export type RestoreState = "missing" | "same" | "differs" | "retired";

export interface RestoreItem {
  entry: ArchiveEntry;
  /** The server name in the target deployment. */
  server: string;
  state: RestoreState;
  localPublicKey?: string;
}

/**
 * What restoring would do per entry. With another target deployment, server names that carry the
 * archive's deployment as prefix (as generated names do, `<deployment>-<region>`) get the new one.
 */
export function planRestore(
  archive: Archive,
  opts: { servers?: string[]; toDeployment?: string },
  local: (server: string) => Identity | undefined,
): RestoreItem[] {
  const wanted = opts.servers && opts.servers.length > 0 ? new Set(opts.servers) : undefined;
  const rename = (name: string): string =>
    opts.toDeployment && opts.toDeployment !== archive.deployment && name.startsWith(`${archive.deployment}-`)
      ? `${opts.toDeployment}${name.slice(archive.deployment.length)}`
      : name;
  const items = archive.entries
    .filter((e) => !wanted || wanted.has(e.server) || wanted.has(rename(e.server)))
    .map((entry): RestoreItem => {
      const server = rename(entry.server);
      if (entry.retiredAt) return { entry, server, state: "retired" };
      const current = local(server);
      if (!current) return { entry, server, state: "missing" };
      return {
        entry,
        server,
        state: current.publicKeyHex === entry.publicKey && current.pow === entry.proofOfWork ? "same" : "differs",
        localPublicKey: current.publicKeyHex,
      };
    });
  if (wanted) {
    const found = new Set(items.flatMap((i) => [i.server, i.entry.server]));
    const unknown = [...wanted].filter((s) => !found.has(s));
    if (unknown.length > 0)
      throw new Error(
        `the backup holds no identity for ${unknown.join(", ")} (it holds ${archive.entries.map((e) => e.server).join(", ") || "none"})`,
      );
  }
  return items;
}

export function defaultBackupFile(deployment: string, now = new Date()): string {
  return `${deployment}-identities-${now.toISOString().slice(0, 19).replace(/[-:]/g, "").replace("T", "-")}.age`;
}

/** Refuses to overwrite a file unless asked to: a backup or identity file someone kept is worth more than a new one. */
export function checkWritable(file: string, force: boolean): void {
  if (existsSync(file) && !force)
    throw new Error(`${file} already exists; choose another --out or pass --force to replace it`);
}
