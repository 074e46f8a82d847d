import { probeSuperPeer, type ProbeResult } from "../../sp-runtime/node/probe.ts";
import { hexToBytes } from "../../sp-runtime/util/hex.ts";
import type { Server } from "../provider.ts";
import { SERVICE } from "./layout.ts";
import type { Settings } from "./settings.ts";
import { RemoteCommandError, type SshConnection } from "./ssh.ts";

export interface ServiceState {
  /** ActiveState, e.g. "active", "activating", "failed", "inactive". */
  active: string;
  /** SubState, e.g. "running", "auto-restart". */
  sub: string;
  /** 0 when not running. */
  mainPid: number;
  /** Automatic restarts since the last manual start: above 0, the daemon has crashed at least once. */
  restarts: number;
}

export interface HealthReport {
  ok: boolean;
  /** host the probes went to. */
  address: string;
  state?: ServiceState;
  udp?: ProbeResult;
  tcp?: ProbeResult;
  error?: string;
  elapsedMs: number;
}

/** Where the super peer is reached from the operator's side. */
export function probeAddress(server: Server): string {
  return server.ipv4 ?? server.ipv6 ?? server.ssh.host;
}

export async function serviceState(conn: SshConnection): Promise<ServiceState> {
  const out = await conn.check(`systemctl show -p ActiveState -p SubState -p MainPID -p NRestarts ${SERVICE}`, "systemctl show");
  const v = (k: string): string => new RegExp(`^${k}=(.*)$`, "m").exec(out)?.[1] ?? "";
  return { active: v("ActiveState"), sub: v("SubState"), mainPid: Number(v("MainPID")) || 0, restarts: Number(v("NRestarts")) || 0 };
}

/** The last lines of the service's journal, for an operator to see why it failed. */
export async function journalTail(conn: SshConnection, lines = 30): Promise<string[]> {
  const r = await conn.run(`journalctl -u ${SERVICE} -n ${lines} --no-pager -o short-iso`);
  return r.stdout.trimEnd().split("\n").filter((l) => l !== "");
}

/** A real drasyl HELLO over UDP and over TCP, each answered by an ACK from `publicKeyHex`. */
export async function probeBoth(server: Server, publicKeyHex: string, settings: Settings, timeoutMs = 3000): Promise<{ udp: ProbeResult; tcp: ProbeResult }> {
  const sp = { host: probeAddress(server), port: settings.udpPort, tcpPort: settings.tcpPort, publicKey: hexToBytes(publicKeyHex, 32) };
  const [udp, tcp] = await Promise.all([probeSuperPeer(sp, "udp", settings.networkId, timeoutMs), probeSuperPeer(sp, "tcp", settings.networkId, timeoutMs)]);
  return { udp, tcp };
}

/** How long a just-started daemon must keep running after its first good answers. */
const STABLE_MS = 3000;

/** `sinceStart`: the service was (re)started by us just now, so any automatic restart means a crash of what we installed. */
function crashed(s: ServiceState, sinceStart: boolean): boolean {
  return s.active === "failed" || s.active === "inactive" || s.sub === "auto-restart" || (sinceStart && s.restarts > 0);
}

/**
 * After a (re)start: polls systemd and probes until the service runs and answers over both
 * transports, or gives up at the first sign of a crash or when `timeoutMs` runs out. A crashing
 * daemon is recognised within a poll, not after the whole timeout.
 */
export async function checkHealth(
  conn: SshConnection,
  server: Server,
  publicKeyHex: string,
  settings: Settings,
  opts: { timeoutMs?: number; justStarted?: boolean } = {},
): Promise<HealthReport> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const justStarted = opts.justStarted ?? true;
  const started = Date.now();
  const address = probeAddress(server);
  const report = (r: Omit<HealthReport, "address" | "elapsedMs">): HealthReport => ({ ...r, address, elapsedMs: Date.now() - started });
  let last: { udp: ProbeResult; tcp: ProbeResult } | undefined;
  for (;;) {
    let state: ServiceState;
    try {
      state = await serviceState(conn);
    } catch (e) {
      // A command that ended without an exit status (seen right after a run killed mid-restart) says nothing about the daemon: ask again.
      if (!(e instanceof RemoteCommandError) || e.code !== null || Date.now() - started > timeoutMs) throw e;
      await new Promise((r) => setTimeout(r, 300));
      continue;
    }
    if (crashed(state, justStarted)) {
      return report({ ok: false, state, ...last, error: `drasyl-sp is not running: ${state.active} (${state.sub}), ${state.restarts} automatic restart(s)` });
    }
    if (state.active === "active") {
      last = await probeBoth(server, publicKeyHex, settings, 1500);
      if (last.udp.ok && last.tcp.ok) {
        // A fresh start must also stay up for a moment after answering, so a daemon that dies right
        // after its sockets came up does not pass; this also catches a death during the probes.
        if (justStarted) await new Promise((r) => setTimeout(r, STABLE_MS));
        const after = await serviceState(conn);
        if (after.mainPid === state.mainPid && !crashed(after, justStarted)) return report({ ok: true, state: after, ...last });
        continue;
      }
    }
    if (Date.now() - started > timeoutMs) {
      const why = last
        ? [last.udp.ok ? "" : `UDP ${address}:${settings.udpPort}: ${last.udp.error}`, last.tcp.ok ? "" : `TCP ${address}:${settings.tcpPort}: ${last.tcp.error}`].filter(Boolean).join("; ")
        : `state ${state.active} (${state.sub})`;
      return report({ ok: false, state, ...last, error: `drasyl-sp did not answer within ${Math.round(timeoutMs / 1000)} s: ${why}` });
    }
    await new Promise((r) => setTimeout(r, 300));
  }
}
