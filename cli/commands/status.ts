import { serverStatus, type ServerStatus } from "../../stacks/install/installer.ts";
import type { KeyFigures } from "../../stacks/monitoring/key-figures.ts";
import { serverKeyFigures } from "../../stacks/monitoring/ssh-scrape.ts";
import { loadIdentity, probeIdentity } from "../../stacks/state/identities.ts";
import { listServers, openDeployment } from "../deployment.ts";
import { configOption, type Register } from "../options.ts";
import { formatProbe } from "../output/probe.ts";
import { table } from "../output/progress.ts";

export interface StatusOptions {
  config?: string;
  stateDir: string;
  json: boolean;
  /** Also read each super peer's key figures off its metrics endpoint, through SSH. */
  metrics?: boolean;
}

export interface StatusRow extends ServerStatus {
  region: string;
  /** The key backed up in the local state; differs from identityPublicKey if the server holds another. */
  expectedPublicKey?: string;
  healthy: boolean;
  metrics?: KeyFigures;
}

/**
 * Per super peer: systemd state, release, key, and whether it really answers drasyl over UDP and
 * TCP at every address clients may be given (its DNS name, IPv4, IPv6).
 */
export async function status(
  opts: StatusOptions,
  out: (s: string) => void = (s) => process.stdout.write(s),
): Promise<number> {
  const d = openDeployment(opts.config, opts.stateDir);
  const servers = await listServers(d);
  if (servers.length === 0) {
    out(opts.json ? "[]\n" : `Deployment "${d.config.deployment}" has no servers yet: run drasyl-deploy up\n`);
    return 1;
  }
  const prober = await probeIdentity(d.state);
  const rows: StatusRow[] = await Promise.all(
    servers.map(async (s) => {
      const st = await serverStatus(s, { knownHostsFile: d.state.knownHostsFile, prober, settings: d.settings });
      const expected = loadIdentity(d.state, s.name)?.publicKeyHex;
      const keyOk = expected === undefined || st.identityPublicKey === expected;
      if (!keyOk)
        st.error = `the server's identity ${st.identityPublicKey ?? "(none)"} is not the backed-up one ${expected}`;
      const row: StatusRow = {
        ...st,
        region: s.region,
        expectedPublicKey: expected,
        healthy: st.active === "active" && !st.error && !!st.udp?.ok && !!st.tcp?.ok && keyOk,
      };
      if (opts.metrics && st.reachable) {
        const m = await serverKeyFigures(s, {
          knownHostsFile: d.state.knownHostsFile,
          listen: d.settings.prometheusListen,
          token: d.settings.prometheusToken,
        });
        if (m.figures) row.metrics = m.figures;
        if (m.error) row.error = row.error ? `${row.error}; ${m.error}` : m.error;
      }
      return row;
    }),
  );
  if (opts.json) out(`${JSON.stringify(rows, null, 2)}\n`);
  else {
    const lines = [["SERVER", "REGION", "SYSTEMD", "RELEASE", "NODE", "PUBLIC KEY", "UDP", "TCP"]];
    for (const r of rows) {
      lines.push([
        r.server,
        r.region,
        r.active ?? "unreachable",
        r.release ?? "-",
        r.nodeVersion ?? "-",
        r.identityPublicKey ?? "-",
        formatProbe(r.udp),
        formatProbe(r.tcp),
      ]);
    }
    out(table(lines));
    if (opts.metrics) out(`\n${metricsTable(rows)}`);
    for (const r of rows.filter((x) => x.error)) out(`${r.server}: ${r.error}\n`);
  }
  return rows.every((r) => r.healthy) ? 0 : 1;
}

function metricsTable(rows: StatusRow[]): string {
  const mib = (b: number): string => `${(b / 1048576).toFixed(1)} MiB`;
  const lines = [["SERVER", "PEERS", "TCP CONNS", "HELLOS", "RELAYED", "UNITES", "DROPPED", "RSS", "CPU", "UPTIME"]];
  for (const r of rows) {
    const m = r.metrics;
    if (!m) lines.push([r.server, "-", "-", "-", "-", "-", "-", "-", "-", "-"]);
    else {
      lines.push([
        r.server,
        String(m.peers),
        String(m.tcpConnections),
        String(m.hellosReceived),
        `${m.relayedPackets} pkts / ${mib(m.relayedBytes)}`,
        String(m.unitesSent),
        String(m.droppedPackets),
        mib(m.rssBytes),
        `${m.cpuSeconds.toFixed(1)} s`,
        `${Math.floor(m.uptimeSeconds / 3600)}h${String(Math.floor((m.uptimeSeconds % 3600) / 60)).padStart(2, "0")}m`,
      ]);
    }
  }
  return table(lines);
}

export const registerStatus: Register = (program, globals) => {
  program
    .command("status")
    .description(
      "per super peer: systemd state, release, public key, UDP and TCP probes with RTT (at the DNS name's, IPv4 and IPv6 addresses)",
    )
    .addOption(configOption())
    .option("--json", "machine-readable output", false)
    .option(
      "--metrics",
      "also read each super peer's key figures (peers, relayed traffic, drops, memory) from its metrics endpoint, through SSH",
      false,
    )
    .action(async (o: { config?: string; json: boolean; metrics: boolean }) => {
      process.exitCode = await status({ ...o, stateDir: globals().stateDir });
    });
};
