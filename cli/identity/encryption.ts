import { armor, Decrypter, Encrypter } from "age-encryption";

/**
 * Backups are age files (https://age-encryption.org): a passphrase (scrypt recipient) or one or
 * more age recipients (`age1...`, e.g. an offline key). Any age implementation can open them, so a
 * backup outlives drasyl-deploy.
 */
export type Protection = { passphrase: string; scryptLogN?: number } | { recipients: string[] };

/** What can open a backup: a passphrase and/or age identities (`AGE-SECRET-KEY-1...`). */
export interface Unlock {
  passphrase?: string;
  identities?: string[];
}

export class BackupCryptoError extends Error {
  override readonly name = "BackupCryptoError";
}

const AGE_BINARY_HEADER = "age-encryption.org/v1\n";
const AGE_ARMOR_HEADER = "-----BEGIN AGE ENCRYPTED FILE-----";

export function isAgeFile(data: Uint8Array): boolean {
  const head = Buffer.from(data.subarray(0, 40)).toString("latin1");
  return head.startsWith(AGE_BINARY_HEADER) || head.trimStart().startsWith(AGE_ARMOR_HEADER);
}

export async function encryptBackup(plaintext: string, protection: Protection): Promise<Uint8Array> {
  const e = new Encrypter();
  if ("passphrase" in protection) {
    if (protection.passphrase.length === 0)
      throw new BackupCryptoError("refusing to encrypt a backup with an empty passphrase");
    e.setPassphrase(protection.passphrase);
    if (protection.scryptLogN !== undefined) e.setScryptWorkFactor(protection.scryptLogN);
  } else {
    if (protection.recipients.length === 0)
      throw new BackupCryptoError("refusing to write a backup without a passphrase or recipient");
    for (const r of protection.recipients) {
      try {
        e.addRecipient(r);
      } catch (err) {
        throw new BackupCryptoError(`--recipient ${r} is not an age recipient (age1...): ${(err as Error).message}`);
      }
    }
  }
  const out = await e.encrypt(plaintext);
  // The one guarantee that matters most: what leaves this function is ciphertext.
  if (!isAgeFile(out) || Buffer.from(out).includes(Buffer.from(plaintext.slice(0, 64))))
    throw new BackupCryptoError("encryption produced no age file; nothing written");
  return out;
}

/** Decrypts, turning age's terse errors into what the operator should check. */
export async function decryptBackup(data: Uint8Array, unlock: Unlock, file: string): Promise<string> {
  if (data.length === 0) throw new BackupCryptoError(`${file} is empty`);
  if (!isAgeFile(data))
    throw new BackupCryptoError(
      `${file} is not an age-encrypted backup (drasyl-deploy never writes unencrypted backups)`,
    );
  let bytes = data;
  const text = Buffer.from(data.subarray(0, 64)).toString("latin1").trimStart();
  if (text.startsWith(AGE_ARMOR_HEADER)) {
    try {
      bytes = armor.decode(Buffer.from(data).toString("latin1"));
    } catch (e) {
      throw new BackupCryptoError(`${file} is damaged (its ASCII armor does not decode: ${(e as Error).message})`);
    }
  }
  const d = new Decrypter();
  if (unlock.passphrase !== undefined) d.addPassphrase(unlock.passphrase);
  for (const id of unlock.identities ?? []) {
    try {
      d.addIdentity(id);
    } catch (e) {
      throw new BackupCryptoError(
        `the age identity is not usable (AGE-SECRET-KEY-1... expected): ${(e as Error).message}`,
      );
    }
  }
  const header = Buffer.from(bytes).toString("latin1");
  const scrypt = header.includes("\n-> scrypt ");
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(await d.decrypt(bytes));
  } catch (e) {
    const msg = (e as Error).message;
    if (/no identity matched/.test(msg)) {
      throw new BackupCryptoError(
        scrypt
          ? `${file}: wrong passphrase`
          : `${file} is encrypted to an age recipient, not a passphrase: pass the matching age identity file with --identity FILE`,
      );
    }
    if (/tag|truncat|unexpected end|too short|chunk|payload|mac/i.test(msg)) {
      throw new BackupCryptoError(`${file} is damaged: it was truncated or modified after it was written (${msg})`);
    }
    throw new BackupCryptoError(`${file} cannot be decrypted: ${msg}`);
  }
}
