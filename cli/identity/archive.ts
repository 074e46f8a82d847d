import { Identity } from "../../sp-runtime/identity/identity.ts";
import { DEFAULT_POW_DIFFICULTY, powLeadingZeroBits } from "../../sp-runtime/identity/pow.ts";
import { bytesToHex, hexToBytes } from "../../sp-runtime/util/hex.ts";

/**
 * The plaintext of an identity backup: everything needed to bring a deployment's super peers back
 * with the same keys, onto any server. It only ever exists in memory; on disk it is age-encrypted.
 */
export const ARCHIVE_FORMAT = "drasyl-deploy-identities";
/**
 * Version 2 marks an archive holding retired identities: a version-1 reader knows no `retiredAt` and
 * would restore a retired key as a current one, so it must refuse such an archive instead. Archives
 * without retired keys stay version 1, readable by every release.
 */
export const ARCHIVE_VERSIONS = [1, 2] as const;

export interface ArchiveEntry {
  server: string;
  region: string;
  publicKey: string;
  proofOfWork: number;
  /** The difficulty the proof of work must meet (drasyl's minimum unless the operator chose more). */
  powDifficulty: number;
  identity: Identity;
  /** Set for a retired identity (a removed server's, kept so it can come back): when it was retired. */
  retiredAt?: string;
}

export interface Archive {
  deployment: string;
  networkId: number;
  createdAt: string;
  entries: ArchiveEntry[];
}

interface EntryJson {
  server: string;
  region: string;
  publicKey: string;
  secretKey: string;
  proofOfWork: number;
  powDifficulty: number;
  retiredAt?: string;
}

export class ArchiveError extends Error {
  override readonly name = "ArchiveError";
}

export function archiveEntry(
  server: string,
  region: string,
  identity: Identity,
  powDifficulty = DEFAULT_POW_DIFFICULTY,
): ArchiveEntry {
  return { server, region, publicKey: identity.publicKeyHex, proofOfWork: identity.pow, powDifficulty, identity };
}

export function serializeArchive(a: Archive): string {
  const entries: EntryJson[] = a.entries.map((e) => ({
    server: e.server,
    region: e.region,
    publicKey: e.publicKey,
    secretKey: bytesToHex(e.identity.secretKey),
    proofOfWork: e.proofOfWork,
    powDifficulty: e.powDifficulty,
    ...(e.retiredAt ? { retiredAt: e.retiredAt } : {}),
  }));
  const version = entries.some((e) => e.retiredAt) ? 2 : 1;
  return `${JSON.stringify({ format: ARCHIVE_FORMAT, version, deployment: a.deployment, networkId: a.networkId, createdAt: a.createdAt, identities: entries }, null, 2)}\n`;
}

function field<T>(
  o: Record<string, unknown>,
  key: string,
  check: (v: unknown) => v is T,
  what: string,
  where: string,
): T {
  const v = o[key];
  if (!check(v)) throw new ArchiveError(`${where}: "${key}" must be ${what}`);
  return v;
}
const isString = (v: unknown): v is string => typeof v === "string" && v.length > 0;
const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);

/**
 * Parses and checks every entry: the public key is the one the secret key derives, and the proof
 * of work meets its difficulty. Messages name the entry and the problem, never key material.
 */
export function parseArchive(text: string): Archive {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ArchiveError("the decrypted archive is not a drasyl-deploy identity backup (not JSON)");
  }
  if (typeof raw !== "object" || raw === null || (raw as Record<string, unknown>).format !== ARCHIVE_FORMAT) {
    throw new ArchiveError("the decrypted archive is not a drasyl-deploy identity backup (wrong format marker)");
  }
  const o = raw as Record<string, unknown>;
  if (!ARCHIVE_VERSIONS.some((v) => v === o.version))
    throw new ArchiveError(
      `archive version ${String(o.version)} is not supported by this drasyl-deploy (it reads versions ${ARCHIVE_VERSIONS.join(" and ")}); use the drasyl-deploy release that wrote it`,
    );
  const deployment = field(o, "deployment", isString, "a deployment name", "archive");
  const networkId = field(o, "networkId", isInt, "an integer", "archive");
  const createdAt = field(o, "createdAt", isString, "a date", "archive");
  if (!Array.isArray(o.identities)) throw new ArchiveError('archive: "identities" must be a list');
  const seen = new Set<string>();
  const entries = o.identities.map((item: unknown, i: number): ArchiveEntry => {
    const at = `identities[${i}]`;
    if (typeof item !== "object" || item === null) throw new ArchiveError(`${at}: not an object`);
    const e = item as Record<string, unknown>;
    const server = field(e, "server", isString, "a server name", at);
    const where = `${at} (${server})`;
    const retiredAt =
      e.retiredAt === undefined
        ? undefined
        : field(e, "retiredAt", (v): v is string => isString(v) && !Number.isNaN(Date.parse(v)), "a date", where);
    // A server has one current identity, and any number retired at different times.
    const slot = retiredAt ? `${server} retired ${retiredAt}` : server;
    if (seen.has(slot)) throw new ArchiveError(`${where}: the server is listed twice`);
    seen.add(slot);
    const region = field(e, "region", (v): v is string => typeof v === "string", "a region", where);
    const publicKey = field(
      e,
      "publicKey",
      (v): v is string => typeof v === "string" && /^[0-9a-f]{64}$/.test(v),
      "64 lowercase hex characters",
      where,
    );
    const secretHex = field(
      e,
      "secretKey",
      (v): v is string => typeof v === "string" && /^[0-9a-fA-F]{128}$/.test(v),
      "128 hex characters",
      where,
    );
    const proofOfWork = field(e, "proofOfWork", isInt, "an integer", where);
    const powDifficulty = field(
      e,
      "powDifficulty",
      (v): v is number => isInt(v) && v >= 0 && v <= 64,
      "an integer 0..64",
      where,
    );
    let identity: Identity;
    try {
      identity = new Identity(hexToBytes(secretHex, 64), proofOfWork);
    } catch (err) {
      throw new ArchiveError(`${where}: not a valid identity: ${(err as Error).message}`);
    }
    if (identity.publicKeyHex !== publicKey)
      throw new ArchiveError(
        `${where}: the public key ${publicKey} is not the one its secret key derives (${identity.publicKeyHex})`,
      );
    if (powLeadingZeroBits(identity.publicKey, proofOfWork) < powDifficulty) {
      throw new ArchiveError(`${where}: the proof of work ${proofOfWork} does not meet difficulty ${powDifficulty}`);
    }
    return { server, region, publicKey, proofOfWork, powDifficulty, identity, ...(retiredAt ? { retiredAt } : {}) };
  });
  return { deployment, networkId, createdAt, entries };
}
