import type { Output, ProviderResource } from "@pulumi/pulumi";
import type { Aws } from "../aws/sdk.ts";
import { addressRecords, type DnsProgramArgs, recordResourceName } from "./program-args.ts";

/** One instance the AWS program creates, as its DNS records need it. */
export interface AwsDnsServer {
  name: string;
  region: string;
  ipv4: Output<string>;
  ipv6: Output<string>;
}

/**
 * A and AAAA records in the Route 53 hosted zone (looked up by name; public zones only) for every
 * super peer. Record resources are named after the record (see hcloudDnsRecords: a moved super
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
    record(name, "A", s.ipv4, `${s.region}-dns-a`);
    record(name, "AAAA", s.ipv6, `${s.region}-dns-aaaa`);
  }
  for (const f of dns.foreign) {
    for (const r of addressRecords(f)) record(f.name, r.type, r.value, `dns-${f.server}-${r.type.toLowerCase()}`);
  }
}
