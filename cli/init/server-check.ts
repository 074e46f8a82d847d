import { homedir } from "node:os";
import { fingerprint, parseOpenSshKey } from "../../stacks/install/host-keys.ts";
import { shq } from "../../stacks/install/shell.ts";
import { anyHostKey, type SshSession, sshConnect, sshExec } from "../../stacks/install/ssh.ts";

export interface ServerAccess {
  name: string;
  host: string;
  sshPort: number;
  user: string;
  privateKey?: string;
}

export interface ServerReport {
  /** What was found, one line each (OS, architecture, ...). */
  facts: string[];
  /** What must be fixed before `up` can install; empty when the server is fine. */
  problems: string[];
}

// One round trip, as the login user; `sudo -n` tells whether passwordless sudo works.
const SCRIPT = [
  'echo "uid=$(id -u)"',
  'if [ "$(id -u)" != 0 ]; then if sudo -n true 2>/dev/null; then echo sudo=yes; else echo sudo=no; fi; fi',
  'echo "machine=$(uname -m)"',
  '( . /etc/os-release 2>/dev/null && echo "os=$ID" && echo "version=$VERSION_ID" && echo "pretty=$PRETTY_NAME" )',
  "[ -d /run/systemd/system ] && echo systemd=yes || echo systemd=no",
  'echo "service=$(systemctl is-active drasyl-sp 2>/dev/null)"',
  'for f in udp udp6 tcp tcp6; do echo "== $f"; cat /proc/net/$f 2>/dev/null; done',
].join("\n");

/** Local ports in LISTEN (TCP) or bound (UDP), from /proc/net/{udp,udp6,tcp,tcp6}. */
export function boundPorts(output: string): { udp: Set<number>; tcp: Set<number> } {
  const ports = { udp: new Set<number>(), tcp: new Set<number>() };
  let proto: "udp" | "tcp" | undefined;
  for (const line of output.split("\n")) {
    const header = /^== (udp|tcp)6?$/.exec(line);
    if (header) {
      proto = header[1] as "udp" | "tcp";
      continue;
    }
    const m = /^\s*\d+:\s+[0-9A-F]+:([0-9A-F]{4})\s+[0-9A-F]+:[0-9A-F]{4}\s+([0-9A-F]{2})/.exec(line);
    if (!m || !proto) continue;
    if (proto === "tcp" && m[2] !== "0A") continue;
    ports[proto].add(parseInt(m[1] ?? "0", 16));
  }
  return ports;
}

/** Judges what the server reported: pure, so every verdict is testable without a server. */
export function evaluateServer(output: string, user: string, ports: { udp: number; tcp: number }): ServerReport {
  const kv = new Map<string, string>();
  for (const line of output.split("\n")) {
    const m = /^([a-z]+)=(.*)$/.exec(line);
    if (m?.[1] && !kv.has(m[1])) kv.set(m[1], m[2] ?? "");
  }
  const facts: string[] = [];
  const problems: string[] = [];
  if (kv.get("uid") === "0") facts.push("logged in as root");
  else if (kv.get("sudo") === "yes") facts.push(`${user} has passwordless sudo`);
  else
    problems.push(
      `${user} is not root and has no passwordless sudo: log in as root, or add "${user} ALL=(ALL) NOPASSWD:ALL" to /etc/sudoers.d/${user}`,
    );
  const machine = kv.get("machine") ?? "";
  if (machine === "x86_64" || machine === "aarch64") facts.push(`architecture ${machine}`);
  else
    problems.push(`architecture "${machine}" is not supported: drasyl-deploy ships Node for x86_64 and aarch64 only`);
  const os = kv.get("os") ?? "";
  const version = kv.get("version") ?? "";
  const pretty = kv.get("pretty") || `${os} ${version}`.trim() || "unknown OS";
  const tested = (os === "debian" && Number(version) >= 12) || (os === "ubuntu" && Number(version) >= 22.04);
  facts.push(
    tested
      ? pretty
      : `${pretty} (not one drasyl-deploy is tested on: Debian 12+, Ubuntu 22.04+; it needs systemd and OpenSSH)`,
  );
  if (kv.get("systemd") !== "yes")
    problems.push("systemd is not running as init: the super peer runs as a systemd service");
  const ours = kv.get("service") === "active";
  if (ours) facts.push("drasyl-sp already runs here: up updates it in place");
  const bound = boundPorts(output);
  if (!ours) {
    if (bound.udp.has(ports.udp))
      problems.push(
        `UDP port ${ports.udp} is already in use on the server: stop what uses it (ss -lunp shows it) or choose another port`,
      );
    if (bound.tcp.has(ports.tcp))
      problems.push(
        `TCP port ${ports.tcp} is already in use on the server: stop what uses it (ss -ltnp shows it) or choose another TCP fallback port`,
      );
    if (!bound.udp.has(ports.udp) && !bound.tcp.has(ports.tcp))
      facts.push(`UDP ${ports.udp} and TCP ${ports.tcp} are free`);
  }
  return { facts, problems };
}

function expandHome(path: string): string {
  return path === "~" || path.startsWith("~/") ? homedir() + path.slice(1) : path;
}

/** An open SSH session to a server whose host key is not trusted yet: shown to the operator first. */
export class ServerProbe {
  readonly hostKey: string;
  readonly fingerprint: string;
  private readonly session: SshSession;

  private constructor(session: SshSession) {
    this.session = session;
    this.hostKey = session.hostKey;
    this.fingerprint = fingerprint(parseOpenSshKey(session.hostKey));
  }

  /**
   * Connects and logs in, accepting whatever host key is offered: the login sends only a signature
   * for this session, and the caller shows the key and asks before anything else is trusted.
   */
  static async connect(access: ServerAccess, timeoutMs = 15_000): Promise<ServerProbe> {
    const target = {
      name: access.name,
      ssh: {
        host: access.host,
        port: access.sshPort,
        user: access.user,
        privateKeyPath: access.privateKey ? expandHome(access.privateKey) : undefined,
      },
    };
    return new ServerProbe(await sshConnect(target, anyHostKey, timeoutMs));
  }

  async check(ports: { udp: number; tcp: number }, user: string): Promise<ServerReport> {
    const r = await sshExec(this.session.client, `sh -c ${shq(SCRIPT)}`, {
      label: "the server checks",
      timeoutMs: 30_000,
    });
    return evaluateServer(r.stdout, user, ports);
  }

  close(): void {
    this.session.client.end();
  }
}
