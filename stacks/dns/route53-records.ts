import type { Output, ProviderResource } from "@pulumi/pulumi";
import type { Aws } from "../aws/sdk.ts";
import { addressRecords, type DnsProgramArgs } from "./program-args.ts";

/** One instance the AWS program creates, as its DNS records need it. */
export interface AwsDnsServer {
  name: string;
  region: string;
  ipv4: Output<string>;
  ipv6: Output<string>;
}

/**
 * A and AAAA records in the Route 53 hosted zone (looked up by name; public zones only) for every
 * super peer. Own instances' records start with their region, like the region's other resources;
 * other servers' records are named after the server.
 */
export function route53Records(
  aws: Aws,
  provider: ProviderResource,
  dns: DnsProgramArgs,
  servers: AwsDnsServer[],
): void {
  const zoneId = aws.route53.getZoneOutput({ name: dns.zone, privateZone: false }, { provider }).zoneId;
  const record = (logical: string, name: string, type: "A" | "AAAA", value: Output<string> | string) =>
    new aws.route53.Record(
      logical,
      { zoneId, name: `${name}.${dns.zone}`, type, ttl: dns.ttl, records: [value] },
      { provider },
    );

  for (const s of servers) {
    const name = dns.names[s.name];
    if (name === undefined) continue;
    record(`${s.region}-dns-a`, name, "A", s.ipv4);
    record(`${s.region}-dns-aaaa`, name, "AAAA", s.ipv6);
  }
  for (const f of dns.foreign) {
    for (const r of addressRecords(f)) record(`dns-${f.server}-${r.type.toLowerCase()}`, f.name, r.type, r.value);
  }
}
