import type { Output, ProviderResource } from "@pulumi/pulumi";
import type { Aws } from "../aws/sdk.ts";
import { addressRecords, type DnsProgramArgs, recordResourceName } from "./program-args.ts";

/** One instance the AWS program creates, as its DNS records need it. */
export interface AwsDnsServer {
  name: string;
  region: string;
  ipv4: Output<string>;
  ipv6: Output<string>;
  /** The Elastic IP's: its reverse DNS belongs to it (and outlives an instance replacement, like the A record). */
  allocationId: Output<string>;
}

/**
 * A and AAAA records in the Route 53 hosted zone (looked up by name; public zones only) for every
 * super peer, and reverse DNS for the AWS instances' Elastic IPs pointing back at the name (IPv6
 * addresses of EC2 have no settable PTR). Record resources are named after the record (see hcloudDnsRecords: a moved super
 * peer's record is updated in place), with the earlier region- or server-based names as aliases.
 */
export function route53Records(
  aws: Aws,
  provider: ProviderResource,
  dns: DnsProgramArgs,
  servers: AwsDnsServer[],
): void {
  const zoneId = aws.route53.getZoneOutput({ name: dns.zone, privateZone: false }, { provider }).zoneId;
  const record = (name: string, type: "A" | "AAAA", value: Output<string> | string, formerly: string) =>
    new aws.route53.Record(
      recordResourceName(name, type),
      { zoneId, name: `${name}.${dns.zone}`, type, ttl: dns.ttl, records: [value] },
      { provider, aliases: [{ name: formerly }] },
    );

  for (const s of servers) {
    const name = dns.names[s.name];
    if (name === undefined) continue;
    const a = record(name, "A", s.ipv4, `${s.region}-dns-a`);
    record(name, "AAAA", s.ipv6, `${s.region}-dns-aaaa`);
    // EC2 sets a PTR only when the name already resolves to the address: after the A record.
    new aws.ec2.EipDomainName(
      `${s.region}-rdns-ipv4`,
      { region: s.region, allocationId: s.allocationId, domainName: `${name}.${dns.zone}` },
      { provider, dependsOn: [a] },
    );
  }
  for (const f of dns.foreign) {
    for (const r of addressRecords(f)) record(f.name, r.type, r.value, `dns-${f.server}-${r.type.toLowerCase()}`);
  }
}
