import { readFileSync } from "node:fs";
import type { Duplex, Readable } from "node:stream";
import ssh2, { type ConnectConfig } from "ssh2";
import type { Server, SshAccess } from "../provider.ts";
import { algorithmsFor, expectedKeyType, formatOpenSshKey, verifyHostKey } from "./host-keys.ts";
import { octal, shq } from "./shell.ts";

// ssh2 is CommonJS whose named exports Node's ESM loader cannot see: take them from the default export.
const { Client, utils } = ssh2;
type Client = InstanceType<typeof Client>;

export class SshError extends Error {
  override readonly name = "SshError";
}

/** A remote command that ran but failed; carries its exit code and stderr. */
export class RemoteCommandError extends SshError {
  readonly code: number | null;
  readonly stderr: string;
  constructor(message: string, code: number | null, stderr: string) {
    super(message);
    this.code = code;
    this.stderr = stderr;
  }
}

export interface ExecResult {
  /** null when the remote process died by a signal. */
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  stdin?: Readable | string | Buffer;
  /** Default 120 s; the channel is closed when it runs out. */
  timeoutMs?: number;
}

export interface ConnectOptions {
  /** The pinned host keys (StateDir.knownHostsFile). */
  knownHostsFile: string;
  /** For TCP connect plus SSH handshake and login. Default 20 s. */
  timeoutMs?: number;
}

/**
 * What to do with the host key a server offers: throw to refuse the connection. `keyType` asks
 * the server for that key type, so one we can compare is offered.
 */
export interface HostKeyPolicy {
  check(key: Buffer): void;
  keyType?: string;
}

/** The installer's policy: the pinned key, or pin on first contact (stacks/install/host-keys.ts). */
export function pinnedHostKey(knownHostsFile: string, server: Server): HostKeyPolicy {
  const keyType = expectedKeyType(knownHostsFile, server);
  return { check: (key) => verifyHostKey(knownHostsFile, server, key), ...(keyType ? { keyType } : {}) };
}

/**
 * Any key: only for logins that send nothing but the key's signature for this session and run no
 * command that matters for trust (waiting for a fresh server to boot, the lab's own plumbing).
 */
export const anyHostKey: HostKeyPolicy = { check: () => {} };

/** Who to log in to: a Server, or a lab host's access with a name for messages. */
export interface SshTarget {
  name: string;
  ssh: SshAccess;
}

/** A logged-in ssh2 client and the host key the server presented, as an OpenSSH public key line. */
export interface SshSession {
  client: Client;
  hostKey: string;
}

export interface UploadTarget {
  path: string;
  sha256: string;
  mode: number;
  owner: string;
}

function lastLines(text: string, n = 5): string {
  return text.trim().split("\n").slice(-n).join("\n");
}

function connectError(server: SshTarget, e: Error & { code?: string; level?: string }, timeoutMs: number): SshError {
  const where = `server "${server.name}" (${server.ssh.user}@${server.ssh.host}:${server.ssh.port})`;
  const code = e.code ?? "";
  if (code === "ECONNREFUSED")
    return new SshError(`cannot reach ${where} over SSH: connection refused (is sshd running, is the port right?)`);
  if (code === "EHOSTUNREACH" || code === "ENETUNREACH")
    return new SshError(`cannot reach ${where} over SSH: no route to the host (${code})`);
  if (code === "ENOTFOUND" || code === "EAI_AGAIN")
    return new SshError(`cannot reach ${where} over SSH: the name ${server.ssh.host} does not resolve`);
  if (code === "ETIMEDOUT" || /timed out/i.test(e.message))
    return new SshError(`cannot reach ${where} over SSH: no answer within ${timeoutMs / 1000} s`);
  if (/authentication methods failed/i.test(e.message)) {
    const how = server.ssh.privateKeyPath
      ? `the key ${server.ssh.privateKeyPath}`
      : "the keys of the ssh-agent at $SSH_AUTH_SOCK";
    return new SshError(`SSH login to ${where} failed: the server did not accept ${how}`);
  }
  return new SshError(`SSH connection to ${where} failed: ${e.message}`);
}

function authConfig(server: SshTarget): Pick<ConnectConfig, "privateKey" | "agent"> {
  const { privateKeyPath } = server.ssh;
  if (privateKeyPath) {
    let key: Buffer;
    try {
      key = readFileSync(privateKeyPath);
    } catch (e) {
      throw new SshError(
        `cannot read the SSH private key ${privateKeyPath} for server "${server.name}": ${(e as Error).message}`,
      );
    }
    const parsed = utils.parseKey(key);
    if (parsed instanceof Error) {
      const hint = /passphrase/i.test(parsed.message)
        ? "it is passphrase-protected: add it to ssh-agent and leave privateKeyPath unset"
        : parsed.message;
      throw new SshError(`cannot use the SSH private key ${privateKeyPath} for server "${server.name}": ${hint}`);
    }
    return { privateKey: key };
  }
  const agent = process.env.SSH_AUTH_SOCK;
  if (!agent)
    throw new SshError(
      `server "${server.name}" has no privateKeyPath and SSH_AUTH_SOCK is not set: give a key file or start ssh-agent`,
    );
  return { agent };
}

/** The one ssh2 login of drasyl-deploy: key file or agent, keepalives, the host key checked by `policy`. */
export async function sshConnect(target: SshTarget, policy: HostKeyPolicy, timeoutMs = 20_000): Promise<SshSession> {
  const client = new Client();
  let hostKeyProblem: Error | undefined;
  let hostKey = "";
  const config: ConnectConfig = {
    host: target.ssh.host,
    port: target.ssh.port,
    username: target.ssh.user,
    ...authConfig(target),
    readyTimeout: timeoutMs,
    keepaliveInterval: 10_000,
    keepaliveCountMax: 3,
    ...(policy.keyType
      ? {
          algorithms: {
            serverHostKey: algorithmsFor(policy.keyType) as NonNullable<ConnectConfig["algorithms"]>["serverHostKey"],
          },
        }
      : {}),
    hostVerifier: (key: Buffer): boolean => {
      try {
        policy.check(key);
        hostKey = formatOpenSshKey(key);
        return true;
      } catch (e) {
        hostKeyProblem = e as Error;
        return false;
      }
    },
  };
  await new Promise<void>((resolve, reject) => {
    let settled = false;
    // ssh2 can emit more than one error (e.g. a timeout, then "connection lost"), and later ones
    // arrive after we gave up: the listener stays, so none of them is ever unhandled.
    client.on("error", (e: Error) => {
      if (settled) return;
      settled = true;
      client.end();
      reject(hostKeyProblem ?? connectError(target, e, timeoutMs));
    });
    client.once("ready", () => {
      settled = true;
      resolve();
    });
    try {
      client.connect(config);
    } catch (e) {
      client.emit("error", e);
    }
  });
  return { client, hostKey };
}

/**
 * Runs `command` in a new channel; resolves with its exit code (null when it died by a signal or
 * the connection dropped), output and errors. The channel is closed when `timeoutMs` runs out.
 */
export function sshExec(client: Client, command: string, opts: RunOptions & { label: string }): Promise<ExecResult> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  return new Promise<ExecResult>((resolve, reject) => {
    client.exec(command, (error, ch) => {
      if (error) return reject(new SshError(`${opts.label}: cannot start a remote command: ${error.message}`));
      // Listeners go on in this callback: a fast command's output, exit status and close can arrive
      // in the same TCP read as the channel's confirmation, before an awaiting caller would resume.
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let code: number | null = null;
      ch.on("data", (d: Buffer) => out.push(d));
      ch.stderr.on("data", (d: Buffer) => err.push(d));
      ch.on("exit", (c: number | null) => {
        code = c;
      });
      const timer = setTimeout(() => {
        ch.close();
        reject(new SshError(`${opts.label}: remote command did not finish within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      ch.on("close", () => {
        clearTimeout(timer);
        // The remote end may stop reading early (a failed command): stop reading the source too.
        if (opts.stdin !== undefined && typeof opts.stdin === "object" && !Buffer.isBuffer(opts.stdin))
          opts.stdin.destroy();
        resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
      });
      if (opts.stdin === undefined || typeof opts.stdin === "string" || Buffer.isBuffer(opts.stdin)) {
        ch.end(opts.stdin);
      } else {
        opts.stdin.on("error", (e) => {
          ch.close();
          reject(new SshError(`${opts.label}: reading the data to send failed: ${e.message}`));
        });
        opts.stdin.pipe(ch);
      }
    });
  });
}

/** Logs in once and returns the host key the server presented; throws when the login fails. */
export async function sshLogin(target: SshTarget, policy: HostKeyPolicy, timeoutMs?: number): Promise<string> {
  const { client, hostKey } = await sshConnect(target, policy, timeoutMs);
  client.end();
  return hostKey;
}

/** One command over a fresh login, for callers that need no session (readiness checks, the lab's plumbing). */
export async function sshRunOnce(
  target: SshTarget,
  policy: HostKeyPolicy,
  command: string,
  opts: { connectTimeoutMs?: number; timeoutMs?: number } = {},
): Promise<ExecResult> {
  const { client } = await sshConnect(target, policy, opts.connectTimeoutMs);
  try {
    return await sshExec(client, command, {
      label: target.name,
      ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
    });
  } finally {
    client.end();
  }
}

/**
 * One SSH connection to one server, with every command run as root: directly when logged in as
 * root, else through `sudo -n` (passwordless sudo; a password prompt would hang an unattended install).
 */
export class SshConnection {
  readonly server: Server;
  private readonly client: Client;

  private constructor(server: Server, client: Client) {
    this.server = server;
    this.client = client;
  }

  static async open(server: Server, opts: ConnectOptions): Promise<SshConnection> {
    const { client } = await sshConnect(server, pinnedHostKey(opts.knownHostsFile, server), opts.timeoutMs);
    const conn = new SshConnection(server, client);
    if (server.ssh.user !== "root") {
      try {
        await conn.check("true", "checking sudo");
      } catch (e) {
        conn.close();
        throw e;
      }
    }
    return conn;
  }

  /** The command line that runs `script` as root through sh, in the C locale (stable output to parse). */
  private command(script: string): string {
    const sh = `sh -c ${shq(`LC_ALL=C; export LC_ALL\n${script}`)}`;
    return this.server.ssh.user === "root" ? sh : `sudo -n ${sh}`;
  }

  /** Runs a shell script as root; resolves with its exit code, output and errors. */
  async run(script: string, opts: RunOptions = {}): Promise<ExecResult> {
    const r = await sshExec(this.client, this.command(script), { ...opts, label: this.server.name });
    if (
      this.server.ssh.user !== "root" &&
      r.code === 1 &&
      /^sudo: /m.test(r.stderr) &&
      /password is required|terminal is required|not in the sudoers|not allowed to execute/.test(r.stderr)
    ) {
      throw new SshError(
        `user ${this.server.ssh.user} on server "${this.server.name}" cannot run commands as root without a password (sudo -n): ` +
          `${lastLines(r.stderr, 1)}. Allow it (e.g. "${this.server.ssh.user} ALL=(ALL) NOPASSWD:ALL" in /etc/sudoers.d/) or connect as root.`,
      );
    }
    return r;
  }

  /**
   * Runs a script as root and hands over its output as it arrives (for `journalctl -f`); resolves
   * with the exit code when it ends or stop() closes the channel.
   */
  stream(
    script: string,
    onData: (text: string, from: "stdout" | "stderr") => void,
  ): Promise<{ done: Promise<number | null>; stop: () => void }> {
    return new Promise((resolve, reject) => {
      this.client.exec(this.command(script), (error, ch) => {
        if (error) return reject(new SshError(`${this.server.name}: cannot start a remote command: ${error.message}`));
        // Listeners go on in this callback, as in sshExec: output may arrive with the confirmation.
        ch.setEncoding("utf8");
        ch.stderr.setEncoding("utf8");
        ch.on("data", (d: string) => onData(d, "stdout"));
        ch.stderr.on("data", (d: string) => onData(d, "stderr"));
        let code: number | null = null;
        ch.on("exit", (c: number | null) => (code = c));
        const done = new Promise<number | null>((r) => ch.on("close", () => r(code)));
        ch.end();
        resolve({ done, stop: () => ch.close() });
      });
    });
  }

  /** Like run(), but a non-zero exit is a RemoteCommandError naming `what`; returns stdout. */
  async check(script: string, what: string, opts: RunOptions = {}): Promise<string> {
    const r = await this.run(script, opts);
    if (r.code !== 0) {
      throw new RemoteCommandError(
        `${what} failed on ${this.server.name} (exit ${r.code ?? "by signal"}): ${lastLines(r.stderr) || "(no error output)"}`,
        r.code,
        r.stderr,
      );
    }
    return r.stdout;
  }

  /**
   * Writes a file atomically: streamed into a temp file in the target directory (decompressed on
   * the way when `gzipped`), checked against the sha256, given its owner and mode, then renamed over
   * the target. A damaged or interrupted upload never replaces the old file, and a secret is never
   * readable by others, not even in the temp file (mktemp makes it 0600).
   */
  async upload(
    target: UploadTarget,
    data: Readable | Buffer | string,
    opts: { gzipped?: boolean; timeoutMs?: number } = {},
  ): Promise<void> {
    const script = `set -eu
dst=${shq(target.path)}
# Left by an upload that was cut off (one run per deployment holds the lock, so none is in flight).
rm -f "$(dirname "$dst")/.$(basename "$dst")."??????
tmp=$(mktemp "$(dirname "$dst")/.$(basename "$dst").XXXXXX")
trap 'rm -f "$tmp"' EXIT
trap 'rm -f "$tmp"; exit 129' HUP PIPE TERM INT
${opts.gzipped ? "gzip -dc" : "cat"} > "$tmp"
sum=$(sha256sum < "$tmp" | cut -c1-64)
if [ "$sum" != ${shq(target.sha256)} ]; then echo "$dst arrived damaged: sha256 $sum, expected ${target.sha256}" >&2; exit 65; fi
chown ${shq(`${target.owner}:${target.owner}`)} "$tmp"
chmod ${octal(target.mode)} "$tmp"
sync "$tmp" 2>/dev/null || true
mv -fT "$tmp" "$dst"
trap - EXIT
`;
    await this.check(script, `uploading ${target.path}`, { stdin: data, timeoutMs: opts.timeoutMs ?? 30 * 60_000 });
  }

  /**
   * A TCP connection from the server to host:port on its side (SSH direct-tcpip), e.g. to an
   * endpoint that listens on the server's loopback only.
   */
  forwardOut(host: string, port: number): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      this.client.forwardOut("127.0.0.1", 0, host, port, (err, stream) =>
        err
          ? reject(
              new SshError(
                `${this.server.name}: cannot open a forwarded connection to ${host}:${port}: ${err.message}`,
              ),
            )
          : resolve(stream),
      );
    });
  }

  close(): void {
    this.client.end();
  }
}
