import { resolve } from "node:path";
import type { Deployment } from "../deployment.ts";
import { serverNames, serverRegions } from "../config/schema.ts";
import { buildArchive, writeBackup } from "./custody.ts";
import type { Protection } from "./encryption.ts";
import { backupPassphrase, PASSPHRASE_ENV } from "./passphrase.ts";
import { backupRecords, lastBackupOf, loadIdentity, recordBackup } from "../../stacks/state/identities.ts";

/**
 * After `up` made sure every server has an identity: writes the backup the config's `backup:` names
 * when some identity is in no backup yet, or else reminds the operator (once per run) to make one.
 * A server's key that exists only on this machine is one disk failure away from breaking every client.
 */
export async function backUpNewIdentities(d: Deployment, note: (line: string) => void): Promise<void> {
  const deployment = d.config.deployment;
  const records = backupRecords(d.state);
  const regions = new Map(serverRegions(d.config).map((s) => [s.name, s.region]));
  const held = serverNames(d.config).flatMap((server) => {
    const identity = loadIdentity(d.state, server);
    return identity ? [{ server, region: regions.get(server) ?? "", identity }] : [];
  });
  const unbacked = held.filter((h) => !lastBackupOf(records, h.identity.publicKeyHex));
  if (unbacked.length === 0) return;
  const names = unbacked.map((h) => h.server).join(", ");
  const setting = d.config.backup;
  if (!setting) {
    note(
      `No backup holds the identit${unbacked.length === 1 ? "y" : "ies"} of ${names} yet: if this machine's state is lost, clients can no longer trust ${unbacked.length === 1 ? "that super peer" : "those super peers"}. Run: drasyl-deploy identity backup --out FILE`,
    );
    return;
  }
  let protection: Protection;
  try {
    protection = setting.recipients
      ? { recipients: setting.recipients }
      : {
          passphrase: await backupPassphrase("encrypt", {
            ...(setting.passphraseFile ? { passphraseFile: setting.passphraseFile } : {}),
            ask: async () => undefined,
          }),
        };
  } catch (e) {
    note(
      `The backup in the config (backup.file) was not written: ${(e as Error).message}. Set ${PASSPHRASE_ENV}, backup.passphraseFile or backup.recipients, or run drasyl-deploy identity backup.`,
    );
    return;
  }
  const file = resolve(setting.file);
  const archive = buildArchive(deployment, d.settings.networkId, held);
  await writeBackup(file, archive, protection);
  recordBackup(d.state, {
    at: archive.createdAt,
    file,
    keys: Object.fromEntries(held.map((h) => [h.server, h.identity.publicKeyHex])),
  });
  note(`Backed up the identities of ${held.map((h) => h.server).join(", ")} to ${file} (backup.file in the config).`);
}
