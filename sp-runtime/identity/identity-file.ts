import { readFileSync } from "node:fs";
import { writeFileAtomic } from "../util/atomic-write.ts";
import { bytesToHex, hexToBytes } from "../util/hex.ts";
import { Identity } from "./identity.ts";

/** Carries the file name and the problem, so an operator knows which file to fix. */
export class IdentityFileError extends Error {
  override readonly name = "IdentityFileError";
  readonly file: string;
  constructor(file: string, problem: string, options?: { cause?: unknown }) {
    super(`identity file ${file}: ${problem}`, options);
    this.file = file;
  }
}

/** The Rust format (`Identity::save`), so identities move between the Rust super peer and ours. */
export function formatIdentityFile(identity: Identity): string {
  return `[Identity]\nSecretKey = ${bytesToHex(identity.secretKey)}\nProofOfWork = ${identity.pow}\n`;
}

/** Same line rules as Rust's loader (trim, prefix match, value after the first '='), but errors instead of panics. */
export function parseIdentityFile(text: string, file = "<identity>"): Identity {
  let skHex: string | undefined;
  let powText: string | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    const eq = line.indexOf("=");
    if (line.startsWith("SecretKey")) skHex = eq < 0 ? "" : line.slice(eq + 1).trim();
    else if (line.startsWith("ProofOfWork")) powText = eq < 0 ? "" : line.slice(eq + 1).trim();
  }
  if (skHex === undefined) throw new IdentityFileError(file, "no SecretKey line");
  if (powText === undefined) throw new IdentityFileError(file, "no ProofOfWork line");
  let sk: Uint8Array;
  try {
    sk = hexToBytes(skHex, 64);
  } catch (e) {
    throw new IdentityFileError(file, `SecretKey is not 128 hex characters (${(e as Error).message})`);
  }
  if (!/^[+-]?\d+$/.test(powText)) throw new IdentityFileError(file, `ProofOfWork "${powText}" is not an integer`);
  const pow = Number(powText);
  if (pow < -0x80000000 || pow > 0x7fffffff)
    throw new IdentityFileError(file, `ProofOfWork ${powText} is outside the 32-bit signed range`);
  try {
    return new Identity(sk, pow);
  } catch (e) {
    throw new IdentityFileError(file, (e as Error).message, { cause: e });
  }
}

/** Returns undefined only when the file does not exist; every other problem is an IdentityFileError. */
export function loadIdentityFile(file: string): Identity | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new IdentityFileError(file, `cannot be read (${(e as Error).message})`, { cause: e });
  }
  return parseIdentityFile(text, file);
}

/** Atomically (temp file, fsync, rename), so a crash never leaves a half-written secret key behind. */
export function saveIdentityFile(file: string, identity: Identity): void {
  writeFileAtomic(file, formatIdentityFile(identity));
}
