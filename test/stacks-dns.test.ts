import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { MockCallArgs, MockResourceArgs } from "@pulumi/pulumi/runtime/mocks.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../cli/config/load.ts";
import { type DeployConfig, dnsRecordPins, serverRegions } from "../cli/config/schema.ts";
import {
  findPlace,
  keptRecord,
  type Place,
  resolveDestination,
  switchInYaml,
  withBoth,
  withPin,
} from "../cli/move/relocate.ts";
import { deploymentOf, listServers, openDeployment } from "../cli/deployment.ts";
import { superPeerUrl } from "../cli/output/super-peers.ts";
import { awsServerSpecs } from "../stacks/aws/catalog.ts";
import type { AwsProgramArgs } from "../stacks/aws/program.ts";
import { dnsProgramArgs, withDnsNames } from "../stacks/dns/fleet.ts";
import { dnsName, recordName } from "../stacks/dns/naming.ts";
import type { DnsProgramArgs } from "../stacks/dns/program-args.ts";
import { dnsSchema } from "../stacks/dns/schema.ts";
import { hcloudServerSpecs } from "../stacks/hcloud/catalog.ts";
import type { HcloudProgramArgs } from "../stacks/hcloud/program.ts";
import type { Server } from "../stacks/provider.ts";
import { StateDir } from "../stacks/state/state-dir.ts";
import { type RecordedResource, runWithMocks } from "./support/mock-harness.ts";

/*
 * DNS names for super peers: the config section, the names, and the records the Hetzner and AWS
 * programs manage, under pulumi.runtime.setMocks (the mocks answer like the APIs: Hetzner's numeric
 * ids and per-location addresses, Route 53's zone lookup, EC2's addresses).
 */

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHVyrxjGx8zvrS0zDCIYAS0pO0Sc0FbxLGxjQxTkMXHX drasyl-deploy-t";
const RRSET = "hcloud:index/zoneRrset:ZoneRrset";
const RDNS = "hcloud:index/rdns:Rdns";
const ZONE = "hcloud:index/zone:Zone";
const R53 = "aws:route53/record:Record";
const DNS = dnsSchema.parse({ zone: "Example.org.", provider: "hcloud" });

const numericId = (name: string): string =>
  String(Number.parseInt(createHash("sha256").update(name).digest("hex").slice(0, 7), 16));
const octet = (s: string): number => s.length * 10 + (s.charCodeAt(0) % 10);

function hcloudComputed(a: MockResourceArgs): Record<string, unknown> {
  const location = String(a.inputs.location ?? "");
  if (a.type === "hcloud:index/server:Server")
    return { ipv4Address: `198.51.100.${octet(location)}`, ipv6Address: `2001:db8:${octet(location)}::1` };
  if (a.type === "hcloud:index/primaryIp:PrimaryIp")
    return {
      ipAddress: a.inputs.type === "ipv4" ? `198.51.100.${octet(location)}` : `2001:db8:${octet(location)}::/64`,
    };
  if (a.type === ZONE) return { name: a.inputs.name };
  return {};
}

function hcloudCall(c: MockCallArgs): Record<string, unknown> {
  if (c.token === "hcloud:index/getZone:getZone") return { id: 4711, name: c.inputs.name, mode: "primary", ttl: 3600 };
  return {};
}

function hcloudArgs(locations: string[], dns: DnsProgramArgs | undefined): HcloudProgramArgs {
  return {
    deployment: "t",
    servers: hcloudServerSpecs("t", { locations }),
    sshUser: "drasyl-deploy",
    sshPublicKey: KEY,
    sshSources: ["203.0.113.7/32"],
    ports: { udp: 22527, tcp: 443 },
    dns,
  };
}

async function runHcloud(a: HcloudProgramArgs) {
  const { hcloudProgram } = await import("../stacks/hcloud/program.ts");
  return runWithMocks(() => ({ ...hcloudProgram(a) }), {
    id: (r) => numericId(r.name),
    outputs: hcloudComputed,
    call: hcloudCall,
  });
}

function awsCall(c: MockCallArgs): Record<string, unknown> {
  const region = String(c.inputs.region);
  if (c.token === "aws:ec2/getAmi:getAmi") return { id: `ami-${region}`, architecture: "x86_64" };
  if (c.token === "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings")
    return { id: region, locations: [`${region}a`], locationTypes: [], instanceTypes: [] };
  if (c.token === "aws:route53/getZone:getZone") return { id: "Z0123", zoneId: "Z0123", name: c.inputs.name };
  throw new Error(`unexpected data source ${c.token}`);
}

function awsComputed(a: MockResourceArgs): Record<string, unknown> {
  const region = String(a.inputs.region ?? "");
  if (a.type === "aws:ec2/vpc:Vpc") return { ipv6CidrBlock: `2600:1f18:${octet(region)}00::/56` };
  if (a.type === "aws:ec2/eip:Eip")
    return { publicIp: `203.0.113.${octet(region)}`, allocationId: `eipalloc-${region}` };
  if (a.type === "aws:ec2/instance:Instance") return { ipv6Addresses: [`2600:1f18:${octet(region)}00::10`] };
  if (a.type === "aws:ec2/keyPair:KeyPair") return { keyName: a.inputs.keyName };
  return {};
}

function awsArgs(regions: string[], dns: DnsProgramArgs | undefined): AwsProgramArgs {
  return {
    deployment: "t",
    servers: awsServerSpecs("t", { regions }),
    sshUser: "drasyl-deploy",
    sshPublicKey: KEY,
    sshSources: ["203.0.113.7/32"],
    ports: { udp: 22527, tcp: 443 },
    dns,
  };
}

async function runAws(a: AwsProgramArgs) {
  const { awsProgram } = await import("../stacks/aws/program.ts");
  return runWithMocks(() => ({ ...awsProgram(a) }), { outputs: awsComputed, call: awsCall });
}

const byName = (resources: RecordedResource[], name: string): RecordedResource => {
  const r = resources.find((x) => x.name === name);
  if (!r) throw new Error(`no resource ${name}; have ${resources.map((x) => x.name).join(", ")}`);
  return r;
};
/** By name: the order resources register in follows the order their inputs resolve, which is not the program's. */
const ofType = (resources: RecordedResource[], type: string) =>
  resources.filter((r) => r.type === type).sort((a, b) => a.name.localeCompare(b.name));
const server = (name: string, region: string, ipv4?: string, ipv6?: string, dns?: string): Server => ({
  name,
  region,
  ...(ipv4 ? { ipv4 } : {}),
  ...(ipv6 ? { ipv6 } : {}),
  ...(dns ? { dnsName: dns } : {}),
  ssh: { host: ipv4 ?? ipv6 ?? "", port: 22, user: "root" },
});

describe("dns config", () => {
  const parse = (
    dns: string,
    targets = "  - kind: hcloud\n    locations: [fsn1, nbg1]\n",
  ): ReturnType<typeof parseConfig> => parseConfig(`deployment: t\ndns: ${dns}\ntargets:\n${targets}`, "test.yaml");

  it("defaults: sp-{region}, TTL 300, the zone looked up; the zone is normalised", () => {
    expect(parse("{ zone: Example.ORG., provider: hcloud }").dns).toEqual({
      zone: "example.org",
      provider: "hcloud",
      name: "sp-{region}",
      ttl: 300,
      createZone: false,
    });
  });

  it("names the field: zone, provider, TTL, placeholders, a provider without its cloud, two servers on one name, a name that is no DNS name", () => {
    expect(() => parse("{ zone: 'not a zone', provider: hcloud }")).toThrow(
      /dns\.zone: must be a DNS zone such as example\.org/,
    );
    expect(() => parse("{ zone: example.org, provider: cloudflare }")).toThrow(/dns\.provider: /);
    expect(() => parse("{ zone: example.org, provider: hcloud, ttl: 5 }")).toThrow(
      /dns\.ttl: must be at least 60 seconds/,
    );
    expect(() => parse("{ zone: example.org, provider: hcloud, name: 'sp-{location}' }")).toThrow(
      /dns\.name: may use the placeholders \{region\}, \{server\}, \{deployment\} only/,
    );
    expect(() => parse("{ zone: example.org, provider: route53 }")).toThrow(
      /dns\.provider: route53 records are managed by the aws stack: add a target of kind aws, or use provider: none/,
    );
    expect(() => parse("{ zone: example.org, provider: hcloud, name: sp }")).toThrow(
      /dns\.name: "sp" gives servers t-fsn1 and t-nbg1 the same name "sp"; use \{server\} in dns\.name/,
    );
    const existing = "  - kind: existing\n    servers:\n      - { name: x, region: 'Frankfurt 1', host: 192.0.2.1 }\n";
    expect(() => parse("{ zone: example.org, provider: none }", existing)).toThrow(
      /dns\.name: "sp-\{region\}" gives server x the name "sp-frankfurt 1", which is not a DNS name/,
    );
    expect(parse("{ zone: example.org, provider: none, name: '{server}' }", existing).dns?.name).toBe("{server}");
  });

  it("a pinned record name (dnsRecord, set by move) overrides dns.name for its server, and is checked like it", () => {
    const moved = "  - kind: hcloud\n    locations: [{ location: nbg1, dnsRecord: SP-fsn1 }, hel1]\n";
    const c = parse("{ zone: example.org, provider: hcloud }", moved);
    expect(dnsRecordPins(c)).toEqual({ "t-nbg1": "sp-fsn1" });
    expect(() =>
      parse(
        "{ zone: example.org, provider: hcloud }",
        "  - kind: hcloud\n    locations: [{ location: nbg1, dnsRecord: sp-hel1 }, hel1]\n",
      ),
    ).toThrow(/dns\.name: "sp-\{region\}" gives servers t-nbg1 and t-hel1 the same name "sp-hel1"/);
    expect(() =>
      parse(
        "{ zone: example.org, provider: hcloud }",
        "  - kind: hcloud\n    locations: [{ location: nbg1, dnsRecord: 'sp fsn1' }]\n",
      ),
    ).toThrow(/targets\[0\]\.locations\[0\]\.dnsRecord: must be a record name relative to dns\.zone/);
    expect(() =>
      parseConfig(
        "deployment: t\ntargets:\n  - kind: local\n    regions: [{ region: r3, dnsRecord: sp-r1 }]\n",
        "t.yaml",
      ),
    ).toThrow(
      /targets\[0\]\.regions\[0\]\.dnsRecord: t-r3 pins the DNS record sp-r1, but the config has no dns section/,
    );
    expect(() =>
      parse(
        "{ zone: example.org, provider: none }",
        "  - kind: existing\n    servers:\n      - { name: x, region: a, host: 192.0.2.1, dnsName: sp.example.net, dnsRecord: sp-a }\n",
      ),
    ).toThrow(/targets\[0\]\.servers\[0\]\.dnsRecord: x has both dnsName .* and dnsRecord/);
    const local = parse(
      "{ zone: example.org, provider: none }",
      "  - kind: local\n    regions: [{ region: r3, dnsRecord: sp-r1 }, r2]\n",
    );
    expect(serverRegions(local)).toEqual([
      { name: "t-r3", region: "r3" },
      { name: "t-r2", region: "r2" },
    ]);
    expect(withDnsNames(local.dns, "t", [server("t-r3", "r3", "10.0.0.3")], dnsRecordPins(local))[0]?.dnsName).toBe(
      "sp-r1.example.org",
    );
  });

  it("record names per server from the placeholders", () => {
    const s = { deployment: "prod", server: "prod-fsn1", region: "fsn1" };
    expect(recordName(DNS, s)).toBe("sp-fsn1");
    expect(dnsName({ ...DNS, name: "{region}.{deployment}" }, s)).toBe("fsn1.prod.example.org");
    expect(dnsName({ ...DNS, name: "{server}" }, s)).toBe("prod-fsn1.example.org");
  });
});

describe("DRASYL_SUPER_PEERS carries the DNS names", () => {
  // Made in beforeAll, not while collecting: a -t filter that skips the block would skip afterAll too.
  let tmp = "";
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), "drasyl-dns-"));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("every server gets <name>.<zone>; a name the config fixes for a server wins", () => {
    const named = withDnsNames(DNS, "t", [
      server("t-fsn1", "fsn1", "198.51.100.1", "2001:db8::1"),
      server("x", "home", "192.0.2.1", undefined, "sp.home.example.net"),
    ]);
    expect(named.map((s) => s.dnsName)).toEqual(["sp-fsn1.example.org", "sp.home.example.net"]);
    expect(
      superPeerUrl(
        { server: named[0] as Server, publicKeyHex: "ab".repeat(32) },
        { networkId: 1, udpPort: 22527, tcpPort: 443 },
      ),
    ).toBe(`udp://sp-fsn1.example.org:22527?publicKey=${"ab".repeat(32)}&networkId=1&tcpPort=443`);
    expect(withDnsNames(undefined, "t", named)).toBe(named);
  });

  it("the zone-managing cloud gets records for the other targets' servers (existing here; the lab's private addresses are left out)", async () => {
    const file = join(tmp, "mixed.yaml");
    writeFileSync(
      file,
      "deployment: t\ndns: { zone: example.org, provider: hcloud, ttl: 600 }\ntargets:\n  - kind: hcloud\n    locations: [fsn1]\n  - kind: existing\n    servers:\n      - { name: home, region: ber, host: 192.0.2.1, ipv6: '2001:db8::5' }\n  - kind: local\n    regions: [lab]\n",
    );
    const d = openDeployment(file, join(tmp, "state-mixed"));
    // The records the hcloud provider's program gets (read through its options: the program itself needs an engine).
    const hcloud = d.providers[0] as unknown as { opts: { dns?: () => Promise<DnsProgramArgs> } };
    expect((d.providers[1] as unknown as { opts: { dns?: unknown } }).opts?.dns).toBeUndefined();
    expect(await hcloud.opts.dns?.()).toEqual({
      zone: "example.org",
      ttl: 600,
      createZone: false,
      names: { "t-fsn1": "sp-fsn1" },
      foreign: [{ server: "home", name: "sp-ber", ipv4: "192.0.2.1", ipv6: "2001:db8::5" }],
    });
  });

  it("through the deployment: listServers names an existing server after the dns section", async () => {
    const file = join(tmp, "d.yaml");
    writeFileSync(
      file,
      "deployment: t\ndns: { zone: example.org, provider: none, name: '{server}-sp' }\ntargets:\n  - kind: existing\n    servers:\n      - { name: home, region: ber, host: 192.0.2.1 }\n",
    );
    const servers = await listServers(openDeployment(file, join(tmp, "state")));
    expect(servers.map((s) => [s.name, s.dnsName, s.ipv4, s.ssh.host])).toEqual([
      ["home", "home-sp.example.org", "192.0.2.1", "192.0.2.1"],
    ]);
  });
});

describe("hcloud program: Hetzner DNS records and reverse DNS (pulumi mocks)", () => {
  const dnsArgs = (locations: string[], others: Server[] = []): DnsProgramArgs =>
    dnsProgramArgs(
      DNS,
      "t",
      locations.map((l) => ({ server: `t-${l}`, region: l })),
      others,
    );
  let two: Awaited<ReturnType<typeof runHcloud>>;

  beforeAll(async () => {
    await pulumi.runtime.setMocks(
      { newResource: (a) => ({ id: `${a.name}-id`, state: a.inputs }), call: () => ({}) },
      "drasyl-deploy-test",
      "test",
      false,
    );
    two = await runHcloud(hcloudArgs(["fsn1", "nbg1"], dnsArgs(["fsn1", "nbg1"])));
  });

  it("per location an A and an AAAA record set with the TTL in the looked-up zone, pointing at the server's addresses", () => {
    expect(two.calls.filter((c) => c.token === "hcloud:index/getZone:getZone").map((c) => c.inputs)).toEqual([
      { name: "example.org" },
    ]);
    const labels = { "managed-by": "drasyl-deploy", deployment: "t" };
    expect(ofType(two.resources, RRSET).map((r) => [r.name, r.inputs])).toEqual([
      [
        "dns-sp-fsn1-a",
        {
          zone: "example.org",
          name: "sp-fsn1",
          type: "A",
          ttl: 300,
          records: [{ value: `198.51.100.${octet("fsn1")}` }],
          labels,
        },
      ],
      [
        "dns-sp-fsn1-aaaa",
        {
          zone: "example.org",
          name: "sp-fsn1",
          type: "AAAA",
          ttl: 300,
          records: [{ value: `2001:db8:${octet("fsn1")}::1` }],
          labels,
        },
      ],
      [
        "dns-sp-nbg1-a",
        {
          zone: "example.org",
          name: "sp-nbg1",
          type: "A",
          ttl: 300,
          records: [{ value: `198.51.100.${octet("nbg1")}` }],
          labels,
        },
      ],
      [
        "dns-sp-nbg1-aaaa",
        {
          zone: "example.org",
          name: "sp-nbg1",
          type: "AAAA",
          ttl: 300,
          records: [{ value: `2001:db8:${octet("nbg1")}::1` }],
          labels,
        },
      ],
    ]);
    expect(ofType(two.resources, ZONE)).toEqual([]);
  });

  it("reverse DNS of both primary IPs points back at the name (the PTR stays with the addresses when the server is replaced)", () => {
    expect(ofType(two.resources, RDNS).map((r) => [r.name, r.inputs])).toEqual([
      [
        "fsn1-rdns-ipv4",
        {
          primaryIpId: Number(numericId("fsn1-ipv4")),
          ipAddress: `198.51.100.${octet("fsn1")}`,
          dnsPtr: "sp-fsn1.example.org",
        },
      ],
      [
        "fsn1-rdns-ipv6",
        {
          primaryIpId: Number(numericId("fsn1-ipv6")),
          ipAddress: `2001:db8:${octet("fsn1")}::1`,
          dnsPtr: "sp-fsn1.example.org",
        },
      ],
      [
        "nbg1-rdns-ipv4",
        {
          primaryIpId: Number(numericId("nbg1-ipv4")),
          ipAddress: `198.51.100.${octet("nbg1")}`,
          dnsPtr: "sp-nbg1.example.org",
        },
      ],
      [
        "nbg1-rdns-ipv6",
        {
          primaryIpId: Number(numericId("nbg1-ipv6")),
          ipAddress: `2001:db8:${octet("nbg1")}::1`,
          dnsPtr: "sp-nbg1.example.org",
        },
      ],
    ]);
  });

  it("a replaced server keeps its name: the A record and both PTRs hang on the primary IPs, which outlive the server", () => {
    for (const name of ["dns-sp-fsn1-a", "fsn1-rdns-ipv4", "fsn1-rdns-ipv6"]) {
      const deps = byName(two.resources, name).options.dependencies;
      expect(
        deps.some((u) => u.endsWith("::fsn1-ipv4") || u.endsWith("::fsn1-ipv6")),
        name,
      ).toBe(true);
      if (name !== "fsn1-rdns-ipv6")
        expect(
          deps.some((u) => u.endsWith("::fsn1-server")),
          name,
        ).toBe(false);
    }
  });

  it("a moved super peer keeps its name: the pinned record (the same resource) carries the new server's addresses, its PTRs point at the old name", async () => {
    const tmp = mkdtempSync(join(tmpdir(), "drasyl-dns-move-"));
    try {
      const state = new StateDir(join(tmp, "state")).forDeployment("t");
      const dnsOf = async (config: DeployConfig, unnamed: string[] = []): Promise<DnsProgramArgs> => {
        const d = deploymentOf(config, join(tmp, "c.yaml"), state, { unnamed });
        return (d.providers[0] as unknown as { opts: { dns: () => Promise<DnsProgramArgs> } }).opts.dns();
      };
      const text =
        "deployment: t\ndns: { zone: example.org, provider: hcloud }\ntargets:\n  - kind: hcloud\n    locations: [fsn1]\n";
      const config = parseConfig(text, "c.yaml");
      const from = findPlace(config, "t-fsn1") as Place;
      const to = resolveDestination(config, from, "nbg1");
      const pin = keptRecord(config, from, to) as string;
      expect(pin).toBe("sp-fsn1");
      const switched = switchInYaml(text, from, to, pin);
      expect(switched).toContain("locations: [ { location: nbg1, dnsRecord: sp-fsn1 } ]");

      const before = await runHcloud(hcloudArgs(["fsn1"], await dnsOf(config)));
      // While the new server is proven it holds no name; after the switch the old one holds none.
      const proving = await dnsOf(withBoth(config, from, to), ["t-nbg1"]);
      expect(proving.names).toEqual({ "t-fsn1": "sp-fsn1" });
      const switching = await dnsOf(withPin(withBoth(config, from, to), to, pin), ["t-fsn1"]);
      expect(switching.names).toEqual({ "t-nbg1": "sp-fsn1" });
      const during = await runHcloud(hcloudArgs(["fsn1", "nbg1"], switching));
      const after = await runHcloud(hcloudArgs(["nbg1"], await dnsOf(parseConfig(switched, "c.yaml"))));
      for (const r of [during, after]) {
        expect(ofType(r.resources, RRSET).map((x) => [x.name, x.inputs.name, x.inputs.type, x.inputs.records])).toEqual(
          [
            ["dns-sp-fsn1-a", "sp-fsn1", "A", [{ value: `198.51.100.${octet("nbg1")}` }]],
            ["dns-sp-fsn1-aaaa", "sp-fsn1", "AAAA", [{ value: `2001:db8:${octet("nbg1")}::1` }]],
          ],
        );
        expect(ofType(r.resources, RDNS).map((x) => [x.name, x.inputs.dnsPtr])).toEqual([
          ["nbg1-rdns-ipv4", "sp-fsn1.example.org"],
          ["nbg1-rdns-ipv6", "sp-fsn1.example.org"],
        ]);
      }
      expect(ofType(before.resources, RRSET).map((x) => [x.name, x.inputs.records])).toEqual([
        ["dns-sp-fsn1-a", [{ value: `198.51.100.${octet("fsn1")}` }]],
        ["dns-sp-fsn1-aaaa", [{ value: `2001:db8:${octet("fsn1")}::1` }]],
      ]);
      // Earlier stacks named the record sets after the location: the alias keeps them the same resources.
      expect(byName(before.resources, "dns-sp-fsn1-a").options.aliases).toEqual(["fsn1-dns-a"]);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it("a TTL change updates the record sets in place (same resources, new ttl)", async () => {
    const r = await runHcloud(hcloudArgs(["fsn1", "nbg1"], { ...dnsArgs(["fsn1", "nbg1"]), ttl: 60 }));
    expect(ofType(r.resources, RRSET).map((x) => [x.name, x.inputs.ttl])).toEqual(
      ofType(two.resources, RRSET).map((x) => [x.name, 60]),
    );
  });

  it("createZone: the zone is created as a primary zone and kept when the stack is destroyed", async () => {
    const r = await runHcloud(hcloudArgs(["fsn1"], { ...dnsArgs(["fsn1"]), createZone: true }));
    const zone = ofType(r.resources, ZONE);
    expect(zone.map((z) => [z.name, z.inputs, z.options.retainOnDelete])).toEqual([
      [
        "dns-zone",
        { name: "example.org", mode: "primary", ttl: 300, labels: { "managed-by": "drasyl-deploy", deployment: "t" } },
        true,
      ],
    ]);
    expect(r.calls.filter((c) => c.token === "hcloud:index/getZone:getZone")).toEqual([]);
    expect(byName(r.resources, "dns-sp-fsn1-a").inputs.zone).toBe("example.org");
  });

  it("one zone for a mixed fleet: records for an existing server and an AWS instance too, not for a server that brings its own name", async () => {
    const others = [
      server("t-eu-central-1", "eu-central-1", "203.0.113.5", "2600:1f18::10"),
      server("home", "ber", "192.0.2.1"),
      server("v6only", "hel", undefined, "2001:db8:f::1"),
      server("named", "x", "192.0.2.9", undefined, "sp.example.net"),
    ];
    const r = await runHcloud(hcloudArgs(["fsn1"], dnsArgs(["fsn1"], others)));
    expect(ofType(r.resources, RRSET).map((x) => [x.name, x.inputs.name, x.inputs.type, x.inputs.records])).toEqual([
      ["dns-sp-ber-a", "sp-ber", "A", [{ value: "192.0.2.1" }]],
      ["dns-sp-eu-central-1-a", "sp-eu-central-1", "A", [{ value: "203.0.113.5" }]],
      ["dns-sp-eu-central-1-aaaa", "sp-eu-central-1", "AAAA", [{ value: "2600:1f18::10" }]],
      ["dns-sp-fsn1-a", "sp-fsn1", "A", [{ value: `198.51.100.${octet("fsn1")}` }]],
      ["dns-sp-fsn1-aaaa", "sp-fsn1", "AAAA", [{ value: `2001:db8:${octet("fsn1")}::1` }]],
      ["dns-sp-hel-aaaa", "sp-hel", "AAAA", [{ value: "2001:db8:f::1" }]],
    ]);
    // Reverse DNS only for the addresses this program owns.
    expect(ofType(r.resources, RDNS).map((x) => x.name)).toEqual(["fsn1-rdns-ipv4", "fsn1-rdns-ipv6"]);
  });

  it("removing a location removes only its records and reverse DNS; the others keep their inputs", async () => {
    const one = await runHcloud(hcloudArgs(["nbg1"], dnsArgs(["nbg1"])));
    const key = (r: RecordedResource) => `${r.type}::${r.name}`;
    const left = new Set(one.resources.map(key));
    const removed = two.resources
      .filter((r) => !left.has(key(r)))
      .map((r) => r.name)
      .sort();
    expect(removed).toEqual([
      "dns-sp-fsn1-a",
      "dns-sp-fsn1-aaaa",
      "fsn1-ipv4",
      "fsn1-ipv6",
      "fsn1-rdns-ipv4",
      "fsn1-rdns-ipv6",
      "fsn1-server",
    ]);
    for (const r of one.resources) expect(r.inputs, r.name).toEqual(byName(two.resources, r.name).inputs);
  });

  it("without a dns section nothing DNS is created or looked up", async () => {
    const r = await runHcloud(hcloudArgs(["fsn1"], undefined));
    expect(r.resources.filter((x) => [RRSET, RDNS, ZONE].includes(x.type))).toEqual([]);
    expect(r.calls).toEqual([]);
  });
});

describe("aws program: Route 53 records and reverse DNS (pulumi mocks)", () => {
  const EIP_RDNS = "aws:ec2/eipDomainName:EipDomainName";
  const R53DNS = { ...DNS, provider: "route53" as const, ttl: 120 };
  const dnsArgs = (regions: string[], others: Server[] = []): DnsProgramArgs =>
    dnsProgramArgs(
      R53DNS,
      "t",
      regions.map((r) => ({ server: `t-${r}`, region: r })),
      others,
    );
  let two: Awaited<ReturnType<typeof runAws>>;

  beforeAll(async () => {
    two = await runAws(awsArgs(["eu-central-1", "us-east-1"], dnsArgs(["eu-central-1", "us-east-1"])));
  });

  it("A (the Elastic IP) and AAAA (the instance's IPv6) per region in the public hosted zone, with the TTL, through the one provider", () => {
    expect(two.calls.filter((c) => c.token === "aws:route53/getZone:getZone").map((c) => c.inputs)).toEqual([
      { name: "example.org", privateZone: false },
    ]);
    const provider = byName(two.resources, "eu-central-1-vpc").options.provider;
    expect(ofType(two.resources, R53).map((r) => [r.name, r.inputs, r.options.provider === provider])).toEqual([
      [
        "dns-sp-eu-central-1-a",
        {
          zoneId: "Z0123",
          name: "sp-eu-central-1.example.org",
          type: "A",
          ttl: 120,
          records: [`203.0.113.${octet("eu-central-1")}`],
        },
        true,
      ],
      [
        "dns-sp-eu-central-1-aaaa",
        {
          zoneId: "Z0123",
          name: "sp-eu-central-1.example.org",
          type: "AAAA",
          ttl: 120,
          records: [`2600:1f18:${octet("eu-central-1")}00::10`],
        },
        true,
      ],
      [
        "dns-sp-us-east-1-a",
        {
          zoneId: "Z0123",
          name: "sp-us-east-1.example.org",
          type: "A",
          ttl: 120,
          records: [`203.0.113.${octet("us-east-1")}`],
        },
        true,
      ],
      [
        "dns-sp-us-east-1-aaaa",
        {
          zoneId: "Z0123",
          name: "sp-us-east-1.example.org",
          type: "AAAA",
          ttl: 120,
          records: [`2600:1f18:${octet("us-east-1")}00::10`],
        },
        true,
      ],
    ]);
  });

  it("reverse DNS of each Elastic IP points at the name, set after its A record, in the region, through the one provider", () => {
    const provider = byName(two.resources, "eu-central-1-vpc").options.provider;
    expect(
      ofType(two.resources, EIP_RDNS).map((r) => [
        r.name,
        r.inputs,
        r.options.provider === provider,
        r.options.dependencies.some((u) => u.endsWith(`::dns-sp-${r.inputs.region as string}-a`)),
      ]),
    ).toEqual(
      ["eu-central-1", "us-east-1"].map((region) => [
        `${region}-rdns-ipv4`,
        { region, allocationId: `eipalloc-${region}`, domainName: `sp-${region}.example.org` },
        true,
        true,
      ]),
    );
  });

  it("a moved super peer's name: the pinned record and the new Elastic IP's reverse DNS carry it", async () => {
    const args = dnsProgramArgs(
      R53DNS,
      "t",
      [{ server: "t-us-east-1", region: "us-east-1", record: "sp-eu-central-1" }],
      [],
    );
    const r = await runAws(awsArgs(["us-east-1"], args));
    expect(ofType(r.resources, R53).map((x) => [x.name, x.inputs.name, x.inputs.records])).toEqual([
      ["dns-sp-eu-central-1-a", "sp-eu-central-1.example.org", [`203.0.113.${octet("us-east-1")}`]],
      ["dns-sp-eu-central-1-aaaa", "sp-eu-central-1.example.org", [`2600:1f18:${octet("us-east-1")}00::10`]],
    ]);
    expect(ofType(r.resources, EIP_RDNS).map((x) => [x.name, x.inputs.allocationId, x.inputs.domainName])).toEqual([
      ["us-east-1-rdns-ipv4", "eipalloc-us-east-1", "sp-eu-central-1.example.org"],
    ]);
  });

  it("one zone for a mixed fleet: the Hetzner servers' records in the hosted zone too", async () => {
    const r = await runAws(
      awsArgs(["eu-central-1"], dnsArgs(["eu-central-1"], [server("t-fsn1", "fsn1", "198.51.100.7", "2001:db8:7::1")])),
    );
    expect(ofType(r.resources, R53).map((x) => [x.name, x.inputs.name, x.inputs.type, x.inputs.records])).toEqual([
      ["dns-sp-eu-central-1-a", "sp-eu-central-1.example.org", "A", [`203.0.113.${octet("eu-central-1")}`]],
      ["dns-sp-eu-central-1-aaaa", "sp-eu-central-1.example.org", "AAAA", [`2600:1f18:${octet("eu-central-1")}00::10`]],
      ["dns-sp-fsn1-a", "sp-fsn1.example.org", "A", ["198.51.100.7"]],
      ["dns-sp-fsn1-aaaa", "sp-fsn1.example.org", "AAAA", ["2001:db8:7::1"]],
    ]);
  });

  it("a replaced instance (architecture change): the AAAA record follows the new instance, which exists before the old one is deleted", async () => {
    const arm = await runAws({
      ...awsArgs([], undefined),
      servers: awsServerSpecs("t", { regions: [{ region: "eu-central-1", instanceType: "t4g.micro" }] }),
      dns: dnsArgs(["eu-central-1"]),
    });
    const aaaa = byName(arm.resources, "dns-sp-eu-central-1-aaaa");
    // The old x64 instance is gone from the program, so the engine deletes it only after creating the
    // new one and updating what depends on it: the name never points at a deleted server.
    expect(arm.resources.map((r) => r.name)).not.toContain("eu-central-1-server");
    expect(aaaa.options.dependencies.some((u) => u.endsWith("::eu-central-1-server-arm64"))).toBe(true);
    expect(byName(arm.resources, "dns-sp-eu-central-1-a").inputs).toEqual(
      byName(two.resources, "dns-sp-eu-central-1-a").inputs,
    );
    // The reverse DNS belongs to the Elastic IP, which outlives the instance: unchanged, not tied to the server.
    const rdns = byName(arm.resources, "eu-central-1-rdns-ipv4");
    expect(rdns.inputs).toEqual(byName(two.resources, "eu-central-1-rdns-ipv4").inputs);
    expect(rdns.options.dependencies.some((u) => /::eu-central-1-server/.test(u))).toBe(false);
  });

  it("removing a region removes only its records and reverse DNS", async () => {
    const one = await runAws(awsArgs(["us-east-1"], dnsArgs(["us-east-1"])));
    expect(ofType(one.resources, EIP_RDNS).map((r) => r.name)).toEqual(["us-east-1-rdns-ipv4"]);
    const names = new Set(ofType(one.resources, R53).map((r) => r.name));
    expect(
      ofType(two.resources, R53)
        .filter((r) => !names.has(r.name))
        .map((r) => r.name),
    ).toEqual(["dns-sp-eu-central-1-a", "dns-sp-eu-central-1-aaaa"]);
    for (const r of ofType(one.resources, R53)) expect(r.inputs).toEqual(byName(two.resources, r.name).inputs);
  });
});

describe("waiting for freshly written records", () => {
  it("waits until the name leads to the server (a real DNS server that learns the record after a moment), then stops", async () => {
    const { TestDnsServer } = await import("./support/dns-server.ts");
    const { waitForDnsNames } = await import("../stacks/dns/propagation.ts");
    const dns = await TestDnsServer.start({});
    const prev = process.env.DRASYL_DEPLOY_DNS_SERVER;
    process.env.DRASYL_DEPLOY_DNS_SERVER = dns.address;
    try {
      const s = server("t-fsn1", "fsn1", "198.51.100.7", undefined, "sp-fsn1.example.org");
      setTimeout(() => {
        dns.zone["sp-fsn1.example.org"] = { A: ["198.51.100.7"] };
      }, 600);
      const lines: string[] = [];
      const t = Date.now();
      const left = await waitForDnsNames([s, server("no-name", "x", "192.0.2.1")], {
        intervalMs: 100,
        timeoutMs: 10_000,
        onProgress: (n, m) => lines.push(`${n}: ${m}`),
      });
      expect(left.size).toBe(0);
      expect(Date.now() - t).toBeGreaterThanOrEqual(500);
      expect(lines[0]).toMatch(
        /^t-fsn1: waiting for the DNS record of sp-fsn1\.example\.org to be visible: dnsName sp-fsn1\.example\.org does not resolve/,
      );
      expect(lines.at(-1)).toBe("t-fsn1: sp-fsn1.example.org now leads to the server");
      expect(dns.queries.length).toBeGreaterThan(2);

      // A record that keeps leading elsewhere: given up on after the timeout, with the reason.
      dns.zone["sp-fsn1.example.org"] = { A: ["203.0.113.99"] };
      const stale = await waitForDnsNames([s], { intervalMs: 100, timeoutMs: 500 });
      expect(stale.get("t-fsn1")).toMatch(/resolves to 203\.0\.113\.99, but 203\.0\.113\.99 is not this server's/);
    } finally {
      if (prev === undefined) delete process.env.DRASYL_DEPLOY_DNS_SERVER;
      else process.env.DRASYL_DEPLOY_DNS_SERVER = prev;
      await dns.close();
    }
  });
});

describe("up applies the zone's stack last", () => {
  it("the other targets first (in parallel), then the stack that writes their records; servers in config order", async () => {
    const { applyInDnsOrder } = await import("../stacks/dns/fleet.ts");
    const events: string[] = [];
    const fake = (kind: string, name: string, ms: number) =>
      ({
        kind,
        apply: async () => {
          events.push(`start ${name}`);
          await new Promise((r) => setTimeout(r, ms));
          events.push(`done ${name}`);
          return [server(name, "r", "192.0.2.1")];
        },
      }) as unknown as import("../stacks/provider.ts").Provider;
    const providers = [fake("hcloud", "h", 10), fake("existing", "e", 50), fake("aws", "a", 30)];
    const servers = await applyInDnsOrder(providers, "hcloud", (p) => p.apply());
    expect(servers.map((s) => s.name)).toEqual(["h", "e", "a"]);
    expect(events).toEqual(["start e", "start a", "done a", "done e", "start h", "done h"]);
    events.length = 0;
    await applyInDnsOrder(providers, undefined, (p) => p.apply());
    expect(events.slice(0, 3)).toEqual(["start h", "start e", "start a"]);
  });
});
