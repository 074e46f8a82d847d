import type { Provider, Server } from "../provider.ts";
import { type NameParts, recordName, dnsName } from "./naming.ts";
import type { DnsProgramArgs } from "./program-args.ts";
import type { DnsConfig } from "./schema.ts";

/**
 * The DNS program arguments of the cloud that manages the zone: names for its own servers, and
 * records for every other server with a public address (existing servers, the other cloud's as
 * last recorded in its stack), so one zone covers a mixed fleet. A server whose DNS name the
 * config fixes itself (an existing server's dnsName or host name) is left to its operator.
 */
export function dnsProgramArgs(
  dns: DnsConfig,
  deployment: string,
  own: Omit<NameParts, "deployment">[],
  others: Server[],
  pins: Record<string, string> = {},
): DnsProgramArgs {
  const names: Record<string, string> = {};
  for (const s of own) names[s.server] = recordName(dns, { deployment, ...s });
  const foreign = others
    .filter((s) => s.dnsName === undefined && (s.ipv4 !== undefined || s.ipv6 !== undefined))
    .map((s) => ({
      server: s.name,
      name: recordName(dns, { deployment, server: s.name, region: s.region, record: pins[s.name] }),
      ...(s.ipv4 ? { ipv4: s.ipv4 } : {}),
      ...(s.ipv6 ? { ipv6: s.ipv6 } : {}),
    }));
  return { zone: dns.zone, ttl: dns.ttl, createZone: dns.createZone, names, foreign };
}

/**
 * The servers with the names clients get in DRASYL_SUPER_PEERS; a name the config fixes for a
 * server wins, then the record name it pins (`pins`: server -> record), then dns.name.
 */
export function withDnsNames(
  dns: DnsConfig | undefined,
  deployment: string,
  servers: Server[],
  pins: Record<string, string> = {},
): Server[] {
  if (!dns) return servers;
  return servers.map((s) =>
    s.dnsName
      ? s
      : { ...s, dnsName: dnsName(dns, { deployment, server: s.name, region: s.region, record: pins[s.name] }) },
  );
}

/** dnsProgramArgs with the other targets' servers as their providers list them now (cloud servers from their stack outputs). */
export async function dnsArgsFor(
  dns: DnsConfig,
  deployment: string,
  own: Omit<NameParts, "deployment">[],
  others: Provider[],
  pins: Record<string, string> = {},
): Promise<DnsProgramArgs> {
  const servers = (await Promise.all(others.map((p) => p.list()))).flat();
  return dnsProgramArgs(dns, deployment, own, servers, pins);
}

/**
 * Applies every provider in parallel, except that the stack managing the DNS zone (`zoneKind`)
 * goes last: its records for the other targets' servers are then those servers' addresses after
 * this run. The servers come back in the providers' order.
 */
export async function applyInDnsOrder(
  providers: Provider[],
  zoneKind: string | undefined,
  apply: (p: Provider) => Promise<Server[]>,
): Promise<Server[]> {
  const results = new Map<Provider, Server[]>();
  const run = (ps: Provider[]) => Promise.all(ps.map(async (p) => results.set(p, await apply(p))));
  await run(providers.filter((p) => p.kind !== zoneKind));
  await run(providers.filter((p) => p.kind === zoneKind));
  return providers.flatMap((p) => results.get(p) ?? []);
}
