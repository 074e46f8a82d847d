import { readFileSync } from "node:fs";
import { formatOpenSshKey } from "../install/host-keys.ts";
import ssh2 from "ssh2";
import type { SshAccess } from "../provider.ts";
import { LabError } from "./run.ts";

// ssh2 is CommonJS: Node exposes only its default export to ESM.
const { Client } = ssh2;
type Client = InstanceType<typeof Client>;

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

interface Session {
  client: Client;
  /** The server's host key as an OpenSSH public key line ("ssh-ed25519 AAAA..."). */
  hostKey: string;
}

/**
 * Opens an SSH session to a lab host. Host keys are not checked here: this is the lab's own
 * plumbing (readiness, test helpers), and callers that care compare `hostKey` themselves.
 */
function connect(access: SshAccess, timeoutMs: number): Promise<Session> {
  if (!access.privateKeyPath) throw new LabError("lab SSH access needs a private key path");
  const privateKey = readFileSync(access.privateKeyPath);
  return new Promise((resolve, reject) => {
    const client = new Client();
    let hostKey = "";
    client
      .on("ready", () => resolve({ client, hostKey }))
      .on("error", (e) => {
        client.end();
        reject(e);
      })
      .connect({
        host: access.host,
        port: access.port,
        username: access.user,
        privateKey,
        readyTimeout: timeoutMs,
        hostVerifier: (key: Buffer) => {
          hostKey = formatOpenSshKey(key);
          return true;
        },
      });
  });
}

export async function sshExec(access: SshAccess, command: string, timeoutMs = 60_000): Promise<ExecResult> {
  const { client } = await connect(access, Math.min(timeoutMs, 20_000));
  try {
    return await new Promise<ExecResult>((resolve, reject) => {
      const timer = setTimeout(() => reject(new LabError(`ssh ${access.user}@${access.host}: "${command}" did not finish within ${timeoutMs / 1000} s`)), timeoutMs);
      client.exec(command, (err, stream) => {
        if (err) {
          clearTimeout(timer);
          return reject(err);
        }
        let stdout = "";
        let stderr = "";
        let code = -1;
        stream.on("data", (d: Buffer) => (stdout += d.toString()));
        stream.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        stream.on("exit", (c: number | null) => (code = c ?? -1));
        stream.on("close", () => {
          clearTimeout(timer);
          resolve({ code, stdout, stderr });
        });
      });
    });
  } finally {
    client.end();
  }
}

/** Logs in once and returns the host key the server presented; throws when the login fails. */
export async function sshLogin(access: SshAccess, timeoutMs = 10_000): Promise<string> {
  const { client, hostKey } = await connect(access, timeoutMs);
  client.end();
  return hostKey;
}
