import { stringify } from "yaml";

export interface AlertRuleOptions {
  deployment: string;
  /** Dropped packets per second (all reasons, 5-minute rate) above which a super peer is flagged; default 50. */
  dropRate?: number;
  /** Restarts within an hour from which a super peer counts as crash-looping; default 3. */
  restarts?: number;
}

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/**
 * Prometheus alert rules for one deployment, on the daemon's metric names (the Rust super peer's,
 * plus prom-client's process metrics). Every expression selects the deployment label the file_sd
 * targets carry, so rules of several deployments can live in one Prometheus.
 */
export function alertRules(o: AlertRuleOptions): string {
  const sel = `deployment=${JSON.stringify(o.deployment)}`;
  const dropRate = o.dropRate ?? 50;
  const restarts = o.restarts ?? 3;
  const rules: Rule[] = [
    {
      alert: "DrasylSuperPeerDown",
      expr: `up{${sel}} == 0`,
      for: "2m",
      labels: { severity: "critical" },
      annotations: {
        summary: "drasyl super peer {{ $labels.server }} ({{ $labels.region }}) does not answer scrapes",
        description:
          "Prometheus could not scrape {{ $labels.server }} for 2 minutes: the server, the service or the metrics port is down. Check `drasyl-deploy status`.",
      },
    },
    {
      alert: "DrasylSuperPeerNoPeers",
      expr: `drasyl_sp_peers{${sel}} == 0`,
      for: "10m",
      labels: { severity: "warning" },
      annotations: {
        summary: "drasyl super peer {{ $labels.server }} ({{ $labels.region }}) has had no peers for 10 minutes",
        description:
          "No node has registered with {{ $labels.server }} for 10 minutes: clients may not reach it (firewall, DNS, DRASYL_SUPER_PEERS).",
      },
    },
    {
      alert: "DrasylSuperPeerDroppingPackets",
      expr: `sum by (deployment, region, server) (rate(drasyl_sp_dropped_packets_total{${sel}}[5m])) > ${dropRate}`,
      for: "10m",
      labels: { severity: "warning" },
      annotations: {
        summary: "drasyl super peer {{ $labels.server }} drops {{ $value | humanize }} packets/s",
        description: `More than ${dropRate} packets/s dropped for 10 minutes; the dashboard's drops-by-reason panel says why.`,
      },
    },
    {
      alert: "DrasylSuperPeerRestarting",
      expr: `changes(process_start_time_seconds{${sel}}[1h]) >= ${restarts}`,
      labels: { severity: "warning" },
      annotations: {
        summary: "drasyl super peer {{ $labels.server }} restarted {{ $value }} times in the last hour",
        description: "The daemon keeps restarting; its journal (journalctl -u drasyl-sp) says why.",
      },
    },
  ];
  return stringify({ groups: [{ name: `drasyl-${o.deployment}`, rules }] });
}
