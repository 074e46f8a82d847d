import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { writeFileAtomic } from "../../sp-runtime/util/atomic-write.ts";
import { hostPort } from "../../sp-runtime/wire/endpoints.ts";
import { privateDir } from "../state/state-dir.ts";
import type { Server } from "../provider.ts";

/**
 * Pinned SSH host keys, in the local state next to the identities: a super peer's identity is only
 * as safe as the connection it is uploaded over, so a changed host key stops the install.
 */
export interface PinnedHostKey {
  /** The server name it was pinned for, to name it in messages. */
  server: string;
  /** OpenSSH public key format: "<type> <base64>". */
  key: string;
  fingerprint: string;
  pinnedAt: string;
}

export class HostKeyError extends Error {
  override readonly name = "HostKeyError";
}

/** Like OpenSSH's `ssh-keygen -l`: SHA256 over the key blob, base64 without padding. */
export function fingerprint(blob: Uint8Array): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** The algorithm name at the start of an SSH public key blob, e.g. "ssh-ed25519". */
export function keyType(blob: Buffer): string {
  const n = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
  if (n === 0 || n > 64 || blob.length < 4 + n) throw new HostKeyError("malformed SSH host key blob");
  return blob.subarray(4, 4 + n).toString("latin1");
}

export function formatOpenSshKey(blob: Buffer): string {
  return `${keyType(blob)} ${blob.toString("base64")}`;
}

/** "<type> <base64> [comment]" → blob, checking the type inside matches the one in front. */
export function parseOpenSshKey(text: string): Buffer {
  const [type, b64] = text.trim().split(/\s+/);
  const blob = Buffer.from(b64 ?? "", "base64");
  if (!type || !b64 || blob.length < 8 || keyType(blob) !== type)
    throw new HostKeyError(`not an OpenSSH public key: ${JSON.stringify(text.slice(0, 40))}`);
  return blob;
}

/** "host:port", IPv6 bracketed, as OpenSSH writes non-default ports. */
export function hostKeyId(host: string, port: number): string {
  return hostPort(host, port);
}

/** `file`: the state dir's known_hosts.json (StateDir.knownHostsFile). */
export function readPins(file: string): Record<string, PinnedHostKey> {
  if (!existsSync(file)) return {};
  try {
    return JSON.parse(readFileSync(file, "utf8")) as Record<string, PinnedHostKey>;
  } catch (e) {
    throw new HostKeyError(
      `${file} is not valid JSON (${(e as Error).message}); fix or remove it (every server is then pinned anew)`,
    );
  }
}

function writePins(file: string, pins: Record<string, PinnedHostKey>): void {
  privateDir(dirname(file));
  writeFileAtomic(file, `${JSON.stringify(pins, null, 2)}\n`);
}

/** Forgets the pin, so the next connection pins the key the server offers then. Returns whether one existed. */
export function forgetHostKey(file: string, host: string, port: number): boolean {
  const pins = readPins(file);
  const id = hostKeyId(host, port);
  if (!(id in pins)) return false;
  delete pins[id];
  writePins(file, pins);
  return true;
}

/** SSH algorithms that produce this key type (RSA keys sign with SHA-2 variants). */
export function algorithmsFor(type: string): string[] {
  return type === "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] : [type];
}

/**
 * The key type to negotiate: the pinned one, else the provider's, so a server that also has keys
 * of other types is always asked for the one we can compare.
 */
export function expectedKeyType(file: string, server: Server): string | undefined {
  const pin = readPins(file)[hostKeyId(server.ssh.host, server.ssh.port)];
  if (pin) return pin.key.split(" ")[0];
  return server.hostKey ? keyType(parseOpenSshKey(server.hostKey)) : undefined;
}

/**
 * Accepts the offered key if it equals the pin; pins it on first contact (after comparing with
 * the provider's key when there is one); throws HostKeyError otherwise.
 */
export function verifyHostKey(file: string, server: Server, offered: Buffer): { pinnedNow: boolean } {
  const { host, port } = server.ssh;
  const id = hostKeyId(host, port);
  const pins = readPins(file);
  const pin = pins[id];
  const got = formatOpenSshKey(offered);
  if (pin) {
    if (pin.key === got) return { pinnedNow: false };
    throw new HostKeyError(
      `the SSH host key of server "${server.name}" (${id}) has CHANGED: pinned ${pin.fingerprint} (${pin.key.split(" ")[0]}, since ${pin.pinnedAt}), ` +
        `now offered ${fingerprint(offered)} (${keyType(offered)}). Not connecting: this is what an attacker in the middle looks like. ` +
        `If the change is legitimate (server reinstalled, keys regenerated), compare the new fingerprint out of band, e.g. ` +
        `"ssh-keygen -lf /etc/ssh/ssh_host_${keyType(offered).replace(/^ssh-/, "")}_key.pub" on the server's console, then run: drasyl-deploy forget-host ${server.name}`,
    );
  }
  if (server.hostKey) {
    const expected = parseOpenSshKey(server.hostKey);
    if (!expected.equals(offered)) {
      throw new HostKeyError(
        `server "${server.name}" (${id}) offered SSH host key ${fingerprint(offered)}, but its provider reported ${fingerprint(expected)}. ` +
          "Not connecting: the address may belong to a different machine, or the connection is intercepted.",
      );
    }
  }
  pins[id] = { server: server.name, key: got, fingerprint: fingerprint(offered), pinnedAt: new Date().toISOString() };
  writePins(file, pins);
  return { pinnedNow: true };
}
