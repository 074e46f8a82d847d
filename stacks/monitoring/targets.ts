/** One super peer as Prometheus should see it. */
export interface ScrapeTarget {
  deployment: string;
  server: string;
  region: string;
  /** Where Prometheus reaches the metrics endpoint: a DNS name, an IPv4 address or a bracketed IPv6 address. */
  host: string;
  port: number;
  /** The identity backed up in the local state, when there is one. */
  publicKeyHex?: string;
}

/** One entry of a Prometheus file_sd file (https://prometheus.io/docs/prometheus/latest/configuration/configuration/#file_sd_config). */
export interface FileSdGroup {
  targets: string[];
  labels: Record<string, string>;
}

/**
 * A super peer's file_sd file: one group with one target and the labels the dashboard and the
 * alert rules select on. `instance` is the server name, so alerts name the server rather than
 * an address that may change.
 */
export function fileSdTargets(t: ScrapeTarget): FileSdGroup[] {
  return [
    {
      targets: [`${t.host}:${t.port}`],
      labels: {
        deployment: t.deployment,
        region: t.region,
        server: t.server,
        instance: t.server,
        ...(t.publicKeyHex ? { public_key: t.publicKeyHex } : {}),
      },
    },
  ];
}

/** The metrics endpoint's host for Prometheus: the DNS name clients use if there is one, else the server's address. */
export function metricsHost(server: { dnsName?: string; ipv4?: string; ipv6?: string; ssh: { host: string } }): string {
  const host = server.dnsName ?? server.ipv4 ?? server.ipv6 ?? server.ssh.host;
  return host.includes(":") ? `[${host}]` : host;
}
