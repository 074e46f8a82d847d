import { readFileSync } from "node:fs";
import { askHidden } from "../prompts/hidden.ts";

export const PASSPHRASE_ENV = "DRASYL_DEPLOY_BACKUP_PASSPHRASE";

export class PassphraseError extends Error {
  override readonly name = "PassphraseError";
}

export interface PassphraseSources {
  passphraseFile?: string;
  env?: NodeJS.ProcessEnv;
  ask?: (question: string) => Promise<string | undefined>;
}

function fromFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new PassphraseError(
      `--passphrase-file ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  // One line, as `echo secret > file` writes it.
  const value = text.replace(/\r?\n$/, "");
  if (value.length === 0) throw new PassphraseError(`--passphrase-file ${file} is empty`);
  return value;
}

/**
 * The backup passphrase: --passphrase-file, else $DRASYL_DEPLOY_BACKUP_PASSPHRASE, else asked on the
 * terminal (twice when a new backup is encrypted with it, so a typo cannot lock the operator out).
 */
export async function backupPassphrase(purpose: "encrypt" | "decrypt", s: PassphraseSources = {}): Promise<string> {
  if (s.passphraseFile) return fromFile(s.passphraseFile);
  const env = s.env ?? process.env;
  const fromEnv = env[PASSPHRASE_ENV];
  if (fromEnv !== undefined) {
    if (fromEnv.length === 0) throw new PassphraseError(`${PASSPHRASE_ENV} is set but empty`);
    return fromEnv;
  }
  const ask = s.ask ?? askHidden;
  const first = await ask(
    purpose === "encrypt" ? "Passphrase for the identity backup: " : "Passphrase of the identity backup: ",
  );
  if (first === undefined) {
    throw new PassphraseError(
      `no passphrase: run in a terminal, set ${PASSPHRASE_ENV}, or pass --passphrase-file FILE${purpose === "encrypt" ? " (or --recipient age1...)" : ""}`,
    );
  }
  if (first.length === 0) throw new PassphraseError("the passphrase is empty; nothing done");
  if (purpose === "encrypt") {
    const again = await ask("The same passphrase again: ");
    if (again !== first) throw new PassphraseError("the two passphrases differ; nothing written");
  }
  return first;
}
