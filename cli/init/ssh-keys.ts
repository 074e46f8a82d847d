import { existsSync, readdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import ssh2 from "ssh2";
import { fingerprint } from "../../stacks/install/host-keys.ts";

// ssh2 is CommonJS: Node exposes only its default export to ESM.
const { OpenSSHAgent } = ssh2;

export interface KeyFile {
  /** As written into the config: ~/.ssh/... when under the home directory. */
  path: string;
  /** "ssh-ed25519 SHA256:... comment" */
  label: string;
}

/** Private keys in ~/.ssh that have a .pub next to them. */
export function sshKeyFiles(home: string = homedir()): KeyFile[] {
  const dir = join(home, ".ssh");
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith(".pub") && existsSync(join(dir, n.slice(0, -4))))
    .sort()
    .flatMap((n) => {
      const [type, b64, ...comment] = readFileSync(join(dir, n), "utf8").trim().split(/\s+/);
      if (!type || !b64) return [];
      return [
        {
          path: `~/.ssh/${n.slice(0, -4)}`,
          label: `${type} ${fingerprint(Buffer.from(b64, "base64"))} ${comment.join(" ")}`.trim(),
        },
      ];
    });
}

/** The keys ssh-agent holds, as "type fingerprint comment"; empty without an agent. */
export function agentKeys(socket: string | undefined = process.env.SSH_AUTH_SOCK): Promise<string[]> {
  if (!socket) return Promise.resolve([]);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve([]), 3000);
    new OpenSSHAgent(socket).getIdentities((err, keys) => {
      clearTimeout(timer);
      if (err || !keys) return resolve([]);
      resolve(
        keys.flatMap((k) =>
          "getPublicSSH" in k ? [`${k.type} ${fingerprint(k.getPublicSSH())} ${k.comment}`.trim()] : [],
        ),
      );
    });
  });
}
