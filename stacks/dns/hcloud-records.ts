import type { Output } from "@pulumi/pulumi";
import type { Hcloud } from "../hcloud/sdk.ts";
import { addressRecords, type DnsProgramArgs, recordResourceName } from "./program-args.ts";

/** One server the hcloud program creates, as its DNS records need it. */
export interface HcloudDnsServer {
  name: string;
  location: string;
  ipv4: Output<string>;
  ipv6: Output<string>;
  /** The primary IPs the reverse DNS entries belong to (they outlive the server, and so does their PTR). */
  ipv4Id: Output<number>;
  ipv6Id: Output<number>;
}

/**
 * The zone's A and AAAA record sets for every super peer (Hetzner DNS, hcloud.ZoneRrset), and
 * reverse DNS for the hcloud servers' primary IPs pointing back at the name. A record set's resource
 * is named after the record, not the server holding it: a moved super peer keeps its name, and its
 * record is then updated in place to the new server's address (a replaced record set would be
 * created while the old one still exists, which the zone refuses). Earlier versions named them
 * after the location or server, hence the aliases. Removing a location removes only its records.
 */
export function hcloudDnsRecords(
  hcloud: Hcloud,
  dns: DnsProgramArgs,
  servers: HcloudDnsServer[],
  labels: Record<string, string>,
): void {
  // The zone may hold records that are not ours: a created zone is kept when the stack is destroyed.
  const zone: Output<string> | string = dns.createZone
    ? new hcloud.Zone("dns-zone", { name: dns.zone, mode: "primary", ttl: dns.ttl, labels }, { retainOnDelete: true })
        .name
    : hcloud.getZoneOutput({ name: dns.zone }).apply((z) => z.name ?? dns.zone);
  const rrset = (name: string, type: "A" | "AAAA", value: Output<string> | string, formerly: string) =>
    new hcloud.ZoneRrset(
      recordResourceName(name, type),
      { zone, name, type, ttl: dns.ttl, records: [{ value }], labels },
      { aliases: [{ name: formerly }] },
    );

  for (const s of servers) {
    const name = dns.names[s.name];
    if (name === undefined) continue;
    const fqdn = `${name}.${dns.zone}`;
    rrset(name, "A", s.ipv4, `${s.location}-dns-a`);
    rrset(name, "AAAA", s.ipv6, `${s.location}-dns-aaaa`);
    new hcloud.Rdns(`${s.location}-rdns-ipv4`, { primaryIpId: s.ipv4Id, ipAddress: s.ipv4, dnsPtr: fqdn });
    new hcloud.Rdns(`${s.location}-rdns-ipv6`, { primaryIpId: s.ipv6Id, ipAddress: s.ipv6, dnsPtr: fqdn });
  }
  for (const f of dns.foreign) {
    for (const r of addressRecords(f)) rrset(f.name, r.type, r.value, `dns-${f.server}-${r.type.toLowerCase()}`);
  }
}
