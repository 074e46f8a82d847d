import { isIP } from "node:net";
import type { Identity } from "../../sp-runtime/identity/identity.ts";
import { probeSuperPeer, type ProbeResult } from "../../sp-runtime/node/prober.ts";
import { hexToBytes } from "../../sp-runtime/util/hex.ts";
import type { Server } from "../provider.ts";
import { SERVICE } from "./layout.ts";
import { canonicalIp, resolveName } from "./resolve.ts";
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
  /** When the current run became active; a new value means the daemon was restarted. */
  activeEnterTimestamp: string;
}

/** The probes of one address of the server. */
export interface EndpointProbe {
  host: string;
  udp: ProbeResult;
  tcp: ProbeResult;
  /** Set when this machine has no route to the address's family (an IPv6 address from an IPv4-only network): not counted as a failure. */
  skipped?: string;
}

/** What a client would experience: the DNS name checked, then every address of the server probed over UDP and TCP. */
export interface ProbeReport {
  ok: boolean;
  /** Over all endpoints: the first failure, else the first endpoint's answer. */
  udp: ProbeResult;
  tcp: ProbeResult;
  endpoints: EndpointProbe[];
  /** The configured DNS name, when it does not resolve or resolves to an address that is not the server's. */
  dnsError?: string;
  error?: string;
}

export interface HealthReport extends Partial<Omit<ProbeReport, "ok" | "error">> {
  ok: boolean;
  state?: ServiceState;
  error?: string;
  elapsedMs: number;
}

/** How the probes are made: the prober's own identity (mined once, kept in the state dir) and a timeout per probe. */
export interface ProbeSetup {
  identity: Identity;
  timeoutMs?: number;
}

export async function serviceState(conn: SshConnection): Promise<ServiceState> {
  const out = await conn.check(
    `systemctl show -p ActiveState -p SubState -p MainPID -p NRestarts -p ActiveEnterTimestamp ${SERVICE}`,
    "systemctl show",
  );
  const v = (k: string): string => new RegExp(`^${k}=(.*)$`, "m").exec(out)?.[1] ?? "";
  return {
    active: v("ActiveState"),
    sub: v("SubState"),
    mainPid: Number(v("MainPID")) || 0,
    restarts: Number(v("NRestarts")) || 0,
    activeEnterTimestamp: v("ActiveEnterTimestamp"),
  };
}

/** The last lines of the service's journal, for an operator to see why it failed. */
export async function journalTail(conn: SshConnection, lines = 30): Promise<string[]> {
  const r = await conn.run(`journalctl -u ${SERVICE} -n ${lines} --no-pager -o short-iso`);
  return r.stdout
    .trimEnd()
    .split("\n")
    .filter((l) => l !== "");
}

/** The server's own addresses, as the provider knows them (IPv4 first: it is what most clients reach). */
function serverAddresses(server: Server): string[] {
  const own = [server.ipv4, server.ipv6].filter((a): a is string => a !== undefined);
  if (own.length === 0 && isIP(server.ssh.host) !== 0) own.push(server.ssh.host);
  return own.map(canonicalIp);
}

/**
 * Whether the DNS name clients are given leads to this server: every address it resolves to must
 * be one of the server's. Returns the problem, naming the addresses, and the addresses to probe. A
 * server known only by its name (no IPs) is probed at whatever the name resolves to.
 */
export async function checkDnsName(server: Server): Promise<{ problem?: string; addresses: string[] }> {
  const own = serverAddresses(server);
  if (!server.dnsName) return { addresses: own };
  let resolved: string[];
  try {
    resolved = await resolveName(server.dnsName);
  } catch (e) {
    return {
      problem: `dnsName ${server.dnsName} does not resolve (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
      addresses: own,
    };
  }
  if (own.length === 0) return { addresses: resolved };
  const foreign = resolved.filter((a) => !own.includes(a));
  if (foreign.length === 0) return { addresses: own };
  return {
    problem:
      `dnsName ${server.dnsName} resolves to ${resolved.join(", ")}, but ${foreign.join(", ")} ${foreign.length === 1 ? "is" : "are"} not this server's ` +
      `(${own.join(", ")}): clients given the name would not reach it. Fix the DNS record, or the server's addresses in the config`,
    addresses: own,
  };
}

const NO_ROUTE = /\b(ENETUNREACH|EADDRNOTAVAIL|EAFNOSUPPORT)\b/;

function overall(endpoints: EndpointProbe[], which: "udp" | "tcp"): ProbeResult {
  for (const e of endpoints) {
    const r = e[which];
    if (!e.skipped && !r.ok) return { ok: false, error: r.error };
  }
  return (
    endpoints.find((e) => !e.skipped)?.[which] ?? {
      ok: false,
      error: "no address of the server can be probed from this machine",
    }
  );
}

/** A real drasyl HELLO over UDP and over TCP to every address clients may use, each answered by an ACK from `publicKeyHex`. */
export async function probeServer(
  server: Server,
  publicKeyHex: string,
  settings: Settings,
  setup: ProbeSetup,
): Promise<ProbeReport> {
  const dns = await checkDnsName(server);
  const publicKey = hexToBytes(publicKeyHex, 32);
  const opts = { networkId: settings.networkId, arm: settings.arm, timeoutMs: setup.timeoutMs ?? 3000 };
  const endpoints = await Promise.all(
    dns.addresses.map(async (host): Promise<EndpointProbe> => {
      const sp = { host, port: settings.udpPort, tcpPort: settings.tcpPort, publicKey };
      const [udp, tcp] = await Promise.all([
        probeSuperPeer(setup.identity, sp, "udp", opts),
        probeSuperPeer(setup.identity, sp, "tcp", opts),
      ]);
      const unroutable = isIP(host) === 6 && [udp, tcp].every((r) => !r.ok && NO_ROUTE.test(r.error));
      return { host, udp, tcp, ...(unroutable ? { skipped: "no IPv6 route from this machine" } : {}) };
    }),
  );
  const udp = overall(endpoints, "udp");
  const tcp = overall(endpoints, "tcp");
  const error = [dns.problem, udp.ok ? "" : udp.error, tcp.ok ? "" : tcp.error].filter(Boolean).join("; ");
  return {
    ok: !error,
    udp,
    tcp,
    endpoints,
    ...(dns.problem ? { dnsError: dns.problem } : {}),
    ...(error ? { error } : {}),
  };
}

/** How long a just-started daemon must keep running after its first good answers. */
const STABLE_MS = 3000;

/** `sinceStart`: the service was (re)started by us just now, so any automatic restart means a crash of what we installed. */
function crashed(s: ServiceState, sinceStart: boolean): boolean {
  return s.active === "failed" || s.active === "inactive" || s.sub === "auto-restart" || (sinceStart && s.restarts > 0);
}

/**
 * After a (re)start: polls systemd and probes until the service runs and answers over both
 * transports at every address, or gives up at the first sign of a crash, at a DNS name that leads
 * elsewhere, or when `timeoutMs` runs out. A crashing daemon is recognised within a poll, not after
 * the whole timeout.
 */
export async function checkHealth(
  conn: SshConnection,
  server: Server,
  publicKeyHex: string,
  settings: Settings,
  setup: ProbeSetup,
  opts: { timeoutMs?: number; justStarted?: boolean } = {},
): Promise<HealthReport> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const justStarted = opts.justStarted ?? true;
  const started = Date.now();
  const report = (r: Omit<HealthReport, "elapsedMs">): HealthReport => ({ ...r, elapsedMs: Date.now() - started });
  let last: ProbeReport | undefined;
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
      return report({
        ...last,
        ok: false,
        state,
        error: `drasyl-sp is not running: ${state.active} (${state.sub}), ${state.restarts} automatic restart(s)`,
      });
    }
    if (state.active === "active") {
      last = await probeServer(server, publicKeyHex, settings, { ...setup, timeoutMs: 1500 });
      // A DNS record that leads elsewhere does not fix itself while we wait.
      if (last.dnsError) return report({ ...last, ok: false, state, error: last.dnsError });
      if (last.ok) {
        // A fresh start must also stay up for a moment after answering, so a daemon that dies right
        // after its sockets came up does not pass; this also catches a death during the probes.
        if (justStarted) await new Promise((r) => setTimeout(r, STABLE_MS));
        const after = await serviceState(conn);
        if (after.mainPid === state.mainPid && !crashed(after, justStarted))
          return report({ ...last, ok: true, state: after });
        continue;
      }
    }
    if (Date.now() - started > timeoutMs) {
      const why = last?.error ?? `state ${state.active} (${state.sub})`;
      return report({
        ...last,
        ok: false,
        state,
        error: `drasyl-sp did not answer within ${Math.round(timeoutMs / 1000)} s: ${why}`,
      });
    }
    await new Promise((r) => setTimeout(r, 300));
  }
}
