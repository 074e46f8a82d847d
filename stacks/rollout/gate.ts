import type { Identity } from "../../sp-runtime/identity/identity.ts";
import type { SuperPeerAddress } from "../../sp-runtime/node/super-peer-url.ts";
import { type AppEvent, DrasylNode, superPeerAddress, type UniteEvent } from "../../sp-runtime/node/test-node.ts";
import { bytesToHex } from "../../sp-runtime/util/hex.ts";
import type { Server } from "../provider.ts";
import { probeServer, serviceState, type ServiceState } from "../install/health.ts";
import { SERVICE } from "../install/layout.ts";
import type { Settings } from "../install/settings.ts";
import { shq } from "../install/shell.ts";
import type { SshConnection } from "../install/ssh.ts";

/** Why `after` is not the same uninterrupted run as `before`, or undefined if it is. */
export function restartedBetween(before: ServiceState, after: ServiceState): string | undefined {
  if (after.active !== "active") return `drasyl-sp is ${after.active} (${after.sub})`;
  if (after.restarts !== before.restarts)
    return `systemd restarted drasyl-sp ${after.restarts - before.restarts} time(s) (NRestarts ${before.restarts} -> ${after.restarts})`;
  if (after.activeEnterTimestamp !== before.activeEnterTimestamp)
    return `drasyl-sp was started again (ActiveEnterTimestamp ${before.activeEnterTimestamp} -> ${after.activeEnterTimestamp})`;
  if (after.mainPid !== before.mainPid)
    return `drasyl-sp runs as a new process (PID ${before.mainPid} -> ${after.mainPid})`;
  return undefined;
}

// The daemon's periodic peers table (on stdout, so in the journal) says nothing about a failure.
const PEERS_TABLE = /^\S+ \S+ [^:]+: (Node {2,}PoW|[0-9a-f]{64} |Total Peers:)/;

/**
 * The journal of the release under test, from its start (systemd's ActiveEnterTimestamp, so no
 * clock of ours is involved), without the peers tables: what an operator needs to see why it failed.
 */
export async function journalSince(conn: SshConnection, since: string, lines = 40): Promise<string[]> {
  const from = since.trim() === "" ? "" : `--since ${shq(since.replace(/^[A-Z][a-z]{2} /, ""))} `;
  const r = await conn.run(`journalctl -u ${SERVICE} ${from}--no-pager -o short-iso`);
  return r.stdout
    .split("\n")
    .filter((l) => l !== "" && !PEERS_TABLE.test(l))
    .slice(-lines);
}

export interface GateStep {
  step: "probe" | "soak" | "relay" | "probe-after-soak";
  ok: boolean;
  ms: number;
  detail: string;
}

export interface GateReport {
  ok: boolean;
  /** The daemon as the gate found it at its start: the release's start time, for the journal. */
  before: ServiceState;
  steps: GateStep[];
  /** The first failure, for the report. */
  error?: string;
}

export interface RelayReport {
  ok: boolean;
  /** Round trips A -> B -> A, each leg relayed by the checked super peer. */
  rttMs: number[];
  /** UNITEs the checked super peer sent to the two nodes. */
  unites: number;
  error?: string;
}

export interface RelayCheckOptions {
  /** The super peer under test. */
  via: SuperPeerAddress;
  /** Another super peer of the fleet: node B also registers there, as a client of several regions does. */
  other?: SuperPeerAddress;
  networkId: number;
  /** Whether the super peers arm (encrypt) control messages. */
  arm: boolean;
  /** Two identities whose proof of work the super peers accept. */
  nodes: [Identity, Identity];
  rounds?: number;
  timeoutMs?: number;
  /**
   * How long to keep relaying until both UNITEs arrived. A super peer sends a pair at most one UNITE
   * per DRASYL_SEND_UNITES (5 s by default, not changed by drasyl-deploy), so a check of the same
   * daemon shortly after another one (a resumed rollout) waits out that window. Default 6 s.
   */
  uniteWindowMs?: number;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms))),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Two drasyl test nodes on the operator's side: A registered only at the checked super peer, B at
 * it and at another one. They exchange APP messages both ways, each relayed by the checked super
 * peer (hop count 1), and each must receive the UNITE it sends after relaying.
 */
export async function relayCheck(opts: RelayCheckOptions): Promise<RelayReport> {
  const rounds = opts.rounds ?? 3;
  const timeoutMs = opts.timeoutMs ?? 3000;
  const viaHex = bytesToHex(opts.via.publicKey);
  // Without UNITE processing the nodes keep talking through the super peer, which is what is checked.
  const common = { networkId: opts.networkId, armMessages: opts.arm, processUnites: false };
  const a = new DrasylNode({ identity: opts.nodes[0], superPeers: [opts.via], ...common });
  const b = new DrasylNode({
    identity: opts.nodes[1],
    superPeers: opts.other ? [opts.via, opts.other] : [opts.via],
    ...common,
  });
  const rttMs: number[] = [];
  let unites = 0;
  const unitesAt = new Set<string>();
  const onUnite = (who: string) => (u: UniteEvent) => {
    if (bytesToHex(u.superPeer) !== viaHex) return;
    unites++;
    unitesAt.add(who);
  };
  a.on("unite", onUnite("a"));
  b.on("unite", onUnite("b"));
  try {
    await a.start();
    await b.start();
    await a.hello(opts.via, "udp", timeoutMs);
    await b.hello(opts.via, "udp", timeoutMs);
    if (opts.other) await b.hello(opts.other, "udp", timeoutMs);
    // B answers every ping through its first super peer, the checked one.
    b.on("app", (m: AppEvent) => {
      const text = Buffer.from(m.payload).toString();
      if (text.startsWith("ping "))
        b.sendApp(a.identity.publicKey, Buffer.from(`pong ${text.slice(5)} hop ${m.hopCount}`), "udp");
    });
    for (let i = 0; i < rounds; i++) {
      const started = performance.now();
      const pong = new Promise<string>((resolve) => {
        const listener = (m: AppEvent): void => {
          const text = Buffer.from(m.payload).toString();
          if (!text.startsWith(`pong ${i} `)) return;
          a.off("app", listener);
          resolve(`${text} back-hop ${m.hopCount}`);
        };
        a.on("app", listener);
      });
      a.sendApp(b.identity.publicKey, Buffer.from(`ping ${i}`), "udp");
      const got = await withTimeout(pong, timeoutMs, `APP ping ${i} relayed to node B and its reply relayed back`);
      rttMs.push(performance.now() - started);
      if (got !== `pong ${i} hop 1 back-hop 1`)
        throw new Error(`relayed APPs arrived with unexpected hop counts: ${got}`);
    }
    const deadline = Date.now() + Math.max(timeoutMs, opts.uniteWindowMs ?? 6000);
    // Every relayed APP is a chance for the super peer to send its UNITEs once its rate limit allows.
    for (let tick = 0; unitesAt.size < 2 && Date.now() < deadline; tick++) {
      if (tick % 10 === 9) a.sendApp(b.identity.publicKey, Buffer.from("unite?"), "udp");
      await new Promise((r) => setTimeout(r, 50));
    }
    if (unitesAt.size < 2)
      throw new Error(
        `the super peer relayed but sent no UNITE to ${["a", "b"]
          .filter((n) => !unitesAt.has(n))
          .map((n) => `node ${n.toUpperCase()}`)
          .join(" and ")}`,
      );
    return { ok: true, rttMs, unites };
  } catch (e) {
    return { ok: false, rttMs, unites, error: (e as Error).message };
  } finally {
    await a.close();
    await b.close();
  }
}

export interface GateOptions {
  soakMs: number;
  /** How often the soak looks at systemd; a crash fails the gate at the next look, not at the end. */
  pollMs?: number;
  /** Nodes for the relay check, and another super peer of the fleet if there is one. */
  relay?: { nodes: [Identity, Identity]; other?: { server: Server; publicKeyHex: string } };
  onStep?: (s: GateStep) => void;
}

/** The relay check talks to the server's own address, as the probes of the install do first. */
export function superPeerOf(server: Server, publicKeyHex: string, settings: Settings): SuperPeerAddress {
  return superPeerAddress(
    server.ipv4 ?? server.ipv6 ?? server.ssh.host,
    settings.udpPort,
    publicKeyHex,
    settings.tcpPort,
  );
}

function rtt(r: { ok: true; rttMs: number } | { ok: false; error: string }): string {
  return r.ok ? `${r.rttMs.toFixed(1)} ms` : `FAIL (${r.error})`;
}

/**
 * The gate after a batch, all from the operator's side: a UDP and a TCP HELLO answered with an ACK
 * signed by the expected key; the daemon stays the same process for the soak time (systemd's
 * restart counter and ActiveEnterTimestamp unchanged); and, during the soak, the relay check.
 */
export async function runGate(
  conn: SshConnection,
  server: Server,
  publicKeyHex: string,
  settings: Settings,
  prober: Identity,
  opts: GateOptions,
): Promise<GateReport> {
  const steps: GateStep[] = [];
  const record = (s: GateStep): GateStep => {
    steps.push(s);
    opts.onStep?.(s);
    return s;
  };
  let t = Date.now();
  const before = await serviceState(conn);
  const done = (): GateReport => {
    const failed = steps.find((s) => !s.ok);
    return {
      ok: failed === undefined,
      before,
      steps,
      ...(failed ? { error: `${failed.step}: ${failed.detail}` } : {}),
    };
  };
  const probe = await probeServer(server, publicKeyHex, settings, { identity: prober });
  const at = probe.endpoints
    .filter((e) => !e.skipped)
    .map((e) => e.host)
    .join(", ");
  const probeDetail = `ACK from ${publicKeyHex.slice(0, 16)}… at ${at} over UDP ${rtt(probe.udp)}, TCP ${rtt(probe.tcp)}${probe.dnsError ? `; ${probe.dnsError}` : ""}`;
  if (!record({ step: "probe", ok: probe.ok, ms: Date.now() - t, detail: probeDetail }).ok) return done();

  t = Date.now();
  const relay = opts.relay
    ? relayCheck({
        via: superPeerOf(server, publicKeyHex, settings),
        ...(opts.relay.other
          ? { other: superPeerOf(opts.relay.other.server, opts.relay.other.publicKeyHex, settings) }
          : {}),
        networkId: settings.networkId,
        arm: settings.arm,
        nodes: opts.relay.nodes,
      }).then((r) => {
        const detail = r.ok
          ? `APP relayed both ways, RTT ${r.rttMs.map((x) => x.toFixed(1)).join("/")} ms, ${r.unites} UNITE(s)${opts.relay?.other ? `; node B also at ${opts.relay.other.server.name}` : ""}`
          : (r.error ?? "failed");
        return record({ step: "relay", ok: r.ok, ms: Date.now() - t, detail });
      })
    : undefined;

  const soakStart = Date.now();
  let why: string | undefined;
  let last = before;
  while (why === undefined && Date.now() - soakStart < opts.soakMs) {
    await new Promise((r) =>
      setTimeout(r, Math.min(opts.pollMs ?? 1000, Math.max(0, opts.soakMs - (Date.now() - soakStart)))),
    );
    last = await serviceState(conn);
    why = restartedBetween(before, last);
  }
  const relayStep = await relay;
  record({
    step: "soak",
    ok: why === undefined,
    ms: Date.now() - soakStart,
    detail:
      why ??
      `same process (PID ${last.mainPid}) for ${(opts.soakMs / 1000).toFixed(0)} s, NRestarts ${last.restarts}, active since ${last.activeEnterTimestamp}`,
  });
  if (why !== undefined || (relayStep && !relayStep.ok)) return done();

  t = Date.now();
  const again = await probeServer(server, publicKeyHex, settings, { identity: prober });
  record({
    step: "probe-after-soak",
    ok: again.ok,
    ms: Date.now() - t,
    detail: `UDP ${rtt(again.udp)}, TCP ${rtt(again.tcp)}${again.error ? `; ${again.error}` : ""}`,
  });
  return done();
}
