/**
 * Where drasyl-sp lives on a server. One place for these paths, because the facts script, the
 * planner, the unit template and the health checks must all agree on them.
 */
export const SERVICE = "drasyl-sp";
export const SERVICE_USER = "drasyl-sp";

export const OPT_DIR = "/opt/drasyl-sp";
export const RELEASES_DIR = `${OPT_DIR}/releases`;
export const RUNTIMES_DIR = `${OPT_DIR}/runtimes`;
/** Symlink to the active release; switching it (and restarting) is what a deploy or rollback does. */
export const CURRENT_LINK = `${OPT_DIR}/current`;

export const ETC_DIR = "/etc/drasyl-sp";
export const IDENTITY_FILE = `${ETC_DIR}/drasyl-sp.identity`;
export const ENV_FILE = `${ETC_DIR}/drasyl-sp.env`;
export const UNIT_FILE = "/etc/systemd/system/drasyl-sp.service";

/** Names inside a release directory. */
export const BUNDLE_NAME = "drasyl-sp.mjs";
export const NODE_LINK_NAME = "node";

/** How many releases stay on a server: the active one, the one a rollback returns to, and one more. */
export const KEEP_RELEASES = 3;

/** Release ids become directory names and reach remote commands, so they are restricted to a safe alphabet. */
export const RELEASE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;

export function releaseDir(id: string): string {
  return `${RELEASES_DIR}/${id}`;
}

export function runtimeDirName(version: string, arch: string): string {
  return `node-${version}-${arch}`;
}

export function runtimeBinary(version: string, arch: string): string {
  return `${RUNTIMES_DIR}/${runtimeDirName(version, arch)}/bin/node`;
}

export function identityBackupFile(now: Date): string {
  // Colons are legal in file names but awkward in shells and scp; keep the timestamp compact.
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
  return `${IDENTITY_FILE}.replaced-${stamp}`;
}
