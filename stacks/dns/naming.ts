import type { DnsConfig } from "./schema.ts";

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export interface NameParts {
  deployment: string;
  server: string;
  region: string;
  /** The record name the config pins for this super peer (a moved one keeps its name), instead of dns.name's. */
  record?: string | undefined;
}

/** The record's name relative to the zone, e.g. "sp-fsn1" for name "sp-{region}", or the name the config pins. */
export function recordName(dns: Pick<DnsConfig, "name">, s: NameParts): string {
  if (s.record !== undefined) return s.record;
  return dns.name
    .replaceAll("{region}", s.region)
    .replaceAll("{server}", s.server)
    .replaceAll("{deployment}", s.deployment)
    .toLowerCase();
}

/** The name clients get in DRASYL_SUPER_PEERS. */
export function dnsName(dns: Pick<DnsConfig, "name" | "zone">, s: NameParts): string {
  return `${recordName(dns, s)}.${dns.zone}`;
}

/**
 * What is wrong with the names a config yields, one message per problem: a name that is not a
 * valid DNS name (a region with spaces, say), or two servers on one name (two targets sharing a
 * region under "sp-{region}").
 */
export function namingProblems(dns: DnsConfig, servers: NameParts[]): string[] {
  const problems: string[] = [];
  const owner = new Map<string, string>();
  for (const s of servers) {
    const rel = recordName(dns, s);
    const bad = rel.split(".").find((l) => !LABEL.test(l));
    if (bad !== undefined)
      problems.push(
        `"${dns.name}" gives server ${s.server} the name "${rel}", which is not a DNS name ("${bad}" must be 1-63 of a-z, 0-9 and '-')`,
      );
    else if (`${rel}.${dns.zone}`.length > 253)
      problems.push(`the name of server ${s.server} is longer than 253 characters`);
    const other = owner.get(rel);
    if (other !== undefined)
      problems.push(
        `"${dns.name}" gives servers ${other} and ${s.server} the same name "${rel}"; use {server} in dns.name`,
      );
    owner.set(rel, s.server);
  }
  return problems;
}
