import { isIP } from "node:net";

/** Anyone, in both families: drasyl's ports and ICMP are open to the world. */
export const ANYWHERE = ["0.0.0.0/0", "::/0"] as const;

export interface InboundRule {
  /** Stable short name, part of resource names (so a changed port updates the same rule). */
  key: "drasyl-udp" | "drasyl-tcp" | "ssh" | "icmp" | "metrics";
  protocol: "udp" | "tcp" | "icmp";
  /** Absent for ICMP. */
  port?: number;
  /** CIDRs, IPv4 and IPv6 mixed. */
  sources: string[];
  description: string;
}

export interface FirewallOptions {
  udpPort: number;
  tcpPort: number;
  /** Who may reach SSH (port 22): the operator's address or the configured CIDRs. */
  sshSources: string[];
  /** An exposed metrics endpoint: its TCP port, open to superPeer.metricsFrom only. */
  metrics?: { port: number; sources: string[] } | undefined;
}

/**
 * The one inbound policy both clouds implement: drasyl over UDP and its TCP fallback from anywhere,
 * SSH only from the operator, ICMP (and ICMPv6, which IPv6 needs for path MTU discovery) from
 * anywhere, an exposed metrics endpoint only from the configured scrapers. Outbound is open.
 */
export function inboundRules(o: FirewallOptions): InboundRule[] {
  if (o.sshSources.length === 0) throw new Error("SSH needs at least one allowed source address");
  for (const s of [...o.sshSources, ...(o.metrics?.sources ?? [])])
    if (cidrFamily(s) === 0) throw new Error(`not a CIDR: ${s}`);
  const metrics: InboundRule[] =
    o.metrics && o.metrics.sources.length > 0
      ? [
          {
            key: "metrics",
            protocol: "tcp",
            port: o.metrics.port,
            sources: [...o.metrics.sources],
            description: "drasyl super peer metrics (Prometheus)",
          },
        ]
      : [];
  return [
    { key: "drasyl-udp", protocol: "udp", port: o.udpPort, sources: [...ANYWHERE], description: "drasyl (UDP)" },
    { key: "drasyl-tcp", protocol: "tcp", port: o.tcpPort, sources: [...ANYWHERE], description: "drasyl TCP fallback" },
    {
      key: "ssh",
      protocol: "tcp",
      port: 22,
      sources: [...o.sshSources],
      description: "SSH from the operator (drasyl-deploy)",
    },
    {
      key: "icmp",
      protocol: "icmp",
      sources: [...ANYWHERE],
      description: "ICMP and ICMPv6 (ping, path MTU discovery)",
    },
    ...metrics,
  ];
}

/** 4 or 6 for a CIDR like 203.0.113.0/24 or 2001:db8::/32, else 0. */
export function cidrFamily(cidr: string): 0 | 4 | 6 {
  const [addr, len, extra] = cidr.split("/");
  const family = isIP(addr ?? "");
  if (extra !== undefined || family === 0 || !/^\d{1,3}$/.test(len ?? "")) return 0;
  if (Number(len) > (family === 4 ? 32 : 128)) return 0;
  return family as 4 | 6;
}

/** Characters allowed in Pulumi logical names we derive from CIDRs. */
export function cidrSlug(cidr: string): string {
  return cidr.replace(/[^0-9a-zA-Z]+/g, "-").replace(/^-+|-+$/g, "");
}
