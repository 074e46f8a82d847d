import { existsSync, linkSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import ssh2 from "ssh2";
import { LabError } from "./run.ts";

// ssh2 is CommonJS: Node exposes only its default export to ESM.
const { utils } = ssh2;

export interface LabKey {
  privateKeyPath: string;
  /** OpenSSH one-line public key, for authorized_keys. */
  publicKey: string;
}

export function labKeyPath(labDir: string): string {
  return join(labDir, "operator_ed25519");
}

/**
 * The operator key pair the lab puts into every host's authorized_keys, kept in `<stateDir>/lab`
 * (shared by all lab deployments of that state dir, kept across destroy like other local state).
 * Created once; concurrent first runs race safely because the private key is published with
 * link(2), which fails if another process published one first, and the public key is derived
 * from whichever private key won.
 */
export function ensureLabKey(labDir: string): LabKey {
  const privateKeyPath = labKeyPath(labDir);
  if (!existsSync(privateKeyPath)) {
    const pair = utils.generateKeyPairSync("ed25519", { comment: "drasyl-deploy lab operator" });
    const tmp = `${privateKeyPath}.tmp-${process.pid}`;
    writeFileSync(tmp, pair.private, { mode: 0o600 });
    try {
      linkSync(tmp, privateKeyPath);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  const parsed = utils.parseKey(readFileSync(privateKeyPath));
  if (parsed instanceof Error) throw new LabError(`cannot read the lab operator key ${privateKeyPath}: ${parsed.message}; delete it to create a new one`);
  const publicKey = `${parsed.type} ${parsed.getPublicSSH().toString("base64")} drasyl-deploy-lab`;
  const pubPath = `${privateKeyPath}.pub`;
  // The .pub file is for humans (ssh -i); it is rewritten from the private key, never trusted.
  if (!existsSync(pubPath) || readFileSync(pubPath, "utf8") !== `${publicKey}\n`) writeFileSync(pubPath, `${publicKey}\n`, { mode: 0o644 });
  return { privateKeyPath, publicKey };
}
