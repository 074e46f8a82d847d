import * as pulumi from "@pulumi/pulumi";
import type { MockCallArgs, MockResourceArgs } from "@pulumi/pulumi/runtime/mocks.js";
import { beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../cli/config/load.ts";
import type { AwsTargetConfig } from "../stacks/aws/config.ts";
import { serverNames } from "../cli/config/schema.ts";
import { awsArch, awsServerSpecs, DEBIAN_AMI_OWNER } from "../stacks/aws/catalog.ts";
import type { AwsProgramArgs } from "../stacks/aws/program.ts";
import { renderUserData } from "../stacks/pulumi/cloud-init.ts";
import { type RecordedResource, runWithMocks } from "./support/mock-harness.ts";

/*
 * The AWS program under pulumi.runtime.setMocks. The mocks answer like EC2 does: a VPC gets an
 * Amazon IPv6 /56, an Elastic IP an address, the AMI and zone-offering data sources answer per
 * region and architecture.
 */

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHVyrxjGx8zvrS0zDCIYAS0pO0Sc0FbxLGxjQxTkMXHX drasyl-deploy-t";
const T = {
  vpc: "aws:ec2/vpc:Vpc",
  subnet: "aws:ec2/subnet:Subnet",
  igw: "aws:ec2/internetGateway:InternetGateway",
  routes: "aws:ec2/routeTable:RouteTable",
  assoc: "aws:ec2/routeTableAssociation:RouteTableAssociation",
  sg: "aws:ec2/securityGroup:SecurityGroup",
  ingress: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
  egress: "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
  key: "aws:ec2/keyPair:KeyPair",
  instance: "aws:ec2/instance:Instance",
  eip: "aws:ec2/eip:Eip",
  eipAssoc: "aws:ec2/eipAssociation:EipAssociation",
  provider: "pulumi:providers:aws",
};

const V6: Record<string, string> = {
  "eu-central-1": "2a05:d014:ab:cd00::/56",
  "us-east-1": "2600:1f18:12:3400::/56",
  "ap-southeast-1": "2406:da18:9:ff00::/56",
};

function computed(a: MockResourceArgs): Record<string, unknown> {
  const region = String(a.inputs.region ?? "");
  switch (a.type) {
    case T.vpc:
      return { ipv6CidrBlock: V6[region] ?? "2001:db8:ff00::/56", arn: `arn:aws:ec2:${region}:1:vpc/${a.name}` };
    case T.eip:
      return { publicIp: `203.0.113.${region.length}`, allocationId: `eipalloc-${region}` };
    case T.instance:
      return { ipv6Addresses: [`${(V6[region] ?? "2001:db8::/56").split("::")[0]}::10`], privateIp: "10.0.0.10" };
    case T.key:
      return { keyName: a.inputs.keyName };
    default:
      return {};
  }
}

function call(c: MockCallArgs): Record<string, unknown> {
  const inputs = c.inputs as { region: string; filters: { name: string; values: string[] }[] };
  if (c.token === "aws:ec2/getAmi:getAmi") {
    const arch = inputs.filters.find((f) => f.name === "architecture")?.values[0];
    return { id: `ami-${inputs.region}-${arch}`, name: `debian-12-${arch}-20260101-1`, architecture: arch };
  }
  if (c.token === "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings") {
    // Zones in no particular order; the first by name is picked.
    return {
      id: inputs.region,
      locations: [`${inputs.region}c`, `${inputs.region}a`, `${inputs.region}b`],
      locationTypes: [],
      instanceTypes: [],
    };
  }
  throw new Error(`unexpected data source ${c.token}`);
}

function args(regions: AwsTargetConfig["regions"], extra: Partial<AwsProgramArgs> = {}): AwsProgramArgs {
  return {
    deployment: "t",
    servers: awsServerSpecs("t", { regions }),
    sshUser: "drasyl-deploy",
    sshPublicKey: KEY,
    sshSources: ["203.0.113.7/32", "2001:db8:77::/64"],
    ports: { udp: 22527, tcp: 443 },
    ...extra,
  };
}

async function run(a: AwsProgramArgs) {
  const { awsProgram } = await import("../stacks/aws/program.ts");
  return runWithMocks(() => ({ ...awsProgram(a) }), { outputs: computed, call });
}

const byName = (resources: RecordedResource[], name: string): RecordedResource => {
  const r = resources.find((x) => x.name === name);
  if (!r) throw new Error(`no resource ${name}; have ${resources.map((x) => x.name).join(", ")}`);
  return r;
};

const tags = (region: string, what: string) => ({
  Name: `t-${region}-${what}`,
  "managed-by": "drasyl-deploy",
  deployment: "t",
  region,
});

describe("aws target config", () => {
  const parse = (target: string): ReturnType<typeof parseConfig> =>
    parseConfig(`deployment: t\ntargets:\n  - ${target}\n`, "test.yaml");

  it("defaults: three regions, t3.micro, Debian 12", () => {
    const c = parse("kind: aws");
    const t = c.targets[0] as AwsTargetConfig;
    expect(t).toMatchObject({
      regions: ["eu-central-1", "us-east-1", "ap-southeast-1"],
      image: "debian-12",
      sshUser: "drasyl-deploy",
    });
    expect(awsServerSpecs("t", t).map((s) => [s.name, s.instanceType, s.arch])).toEqual([
      ["t-eu-central-1", "t3.micro", "x64"],
      ["t-us-east-1", "t3.micro", "x64"],
      ["t-ap-southeast-1", "t3.micro", "x64"],
    ]);
    expect(serverNames(c)).toEqual(["t-eu-central-1", "t-us-east-1", "t-ap-southeast-1"]);
  });

  it("validation names the field", () => {
    expect(() => parse("kind: aws\n    regions: [eu-central]")).toThrow(
      /targets\[0\]\.regions\[0\]: "eu-central" is not an AWS region name/,
    );
    expect(() => parse("kind: aws\n    regions: [us-east-1, us-east-1]")).toThrow(
      /targets\[0\]\.regions\[1\]: region us-east-1 is listed twice/,
    );
    expect(() => parse("kind: aws\n    instanceType: micro")).toThrow(
      /targets\[0\]\.instanceType: "micro" is not an EC2 instance type/,
    );
    expect(() => parse("kind: aws\n    regions: [{ region: us-east-1, instanceType: big }]")).toThrow(
      /targets\[0\]\.regions\[0\]\.instanceType/,
    );
    expect(() => parse("kind: aws\n    image: ami-0123")).toThrow(
      /targets\[0\]\.image: "ami-0123" is not a supported image/,
    );
    // Server names must stay unique across targets.
    expect(() =>
      parseConfig(
        "deployment: t\ntargets:\n  - kind: aws\n    regions: [us-east-1]\n  - kind: existing\n    servers: [{ name: t-us-east-1, region: x, host: 192.0.2.1 }]\n",
        "x.yaml",
      ),
    ).toThrow(
      /targets\[1\]\.servers\[0\]\.name: server name "t-us-east-1" is already used at targets\[0\]\.regions\[0\]/,
    );
  });

  it("Graviton instance types are arm64", () => {
    for (const t of ["t4g.micro", "m7g.large", "c6gn.medium", "im4gn.large", "x2gd.xlarge", "a1.medium", "g5g.xlarge"])
      expect(awsArch(t), t).toBe("arm64");
    for (const t of ["t3.micro", "t3a.nano", "m5.large", "g5.xlarge", "c7i.large", "inf2.xlarge"])
      expect(awsArch(t), t).toBe("x64");
  });
});

describe("aws program (pulumi mocks)", () => {
  let two: Awaited<ReturnType<typeof run>>;

  beforeAll(async () => {
    await pulumi.runtime.setMocks(
      { newResource: (a) => ({ id: `${a.name}-id`, state: a.inputs }), call: () => ({}) },
      "drasyl-deploy-test",
      "test",
      false,
    );
    two = await run(args(["eu-central-1", { region: "us-east-1", instanceType: "t4g.micro" }]));
  });

  it("ipv6Subnet64 takes /64s out of the VPC's /56", async () => {
    const { ipv6Subnet64 } = await import("../stacks/aws/program.ts");
    expect(ipv6Subnet64("2a05:d014:ab:cd00::/56")).toBe("2a05:d014:ab:cd00::/64");
    expect(ipv6Subnet64("2a05:d014:ab:cd00::/56", 1)).toBe("2a05:d014:ab:cd01::/64");
    expect(ipv6Subnet64("2600:1f18:12:3400::/56", 255)).toBe("2600:1f18:12:34ff::/64");
    expect(() => ipv6Subnet64("2600:1f18:12:3400::/56", 256)).toThrow();
  });

  it("one provider, every resource in its own region through it", () => {
    const providers = two.resources.filter((r) => r.type === T.provider);
    expect(providers.map((p) => p.inputs.region)).toEqual(["us-east-1"]);
    for (const r of two.resources.filter((x) => x.type !== T.provider)) {
      expect(r.options.provider, r.name).toMatch(/::pulumi:providers:aws::aws::/);
      expect(r.name.startsWith(`${r.inputs.region}-`), r.name).toBe(true);
    }
  });

  it("IPv6 VPC layout per region: Amazon /56, one dual-stack /64 subnet, internet gateway, v4 and v6 default routes", () => {
    for (const region of ["eu-central-1", "us-east-1"]) {
      expect(byName(two.resources, `${region}-vpc`).inputs).toEqual({
        region,
        cidrBlock: "10.0.0.0/16",
        assignGeneratedIpv6CidrBlock: true,
        enableDnsSupport: true,
        enableDnsHostnames: true,
        tags: tags(region, "vpc"),
      });
      const subnet = byName(two.resources, `${region}-subnet`);
      expect(subnet.inputs).toEqual({
        region,
        vpcId: `${region}-vpc-id`,
        availabilityZone: `${region}a`,
        cidrBlock: "10.0.0.0/24",
        ipv6CidrBlock: (V6[region] as string).replace("/56", "/64"),
        assignIpv6AddressOnCreation: true,
        mapPublicIpOnLaunch: false,
        tags: tags(region, "subnet"),
      });
      expect(subnet.options.ignoreChanges).toEqual(["availabilityZone"]);
      expect(byName(two.resources, `${region}-igw`).inputs).toEqual({
        region,
        vpcId: `${region}-vpc-id`,
        tags: tags(region, "igw"),
      });
      expect(byName(two.resources, `${region}-routes`).inputs).toEqual({
        region,
        vpcId: `${region}-vpc-id`,
        routes: [
          { cidrBlock: "0.0.0.0/0", gatewayId: `${region}-igw-id` },
          { ipv6CidrBlock: "::/0", gatewayId: `${region}-igw-id` },
        ],
        tags: tags(region, "routes"),
      });
      expect(byName(two.resources, `${region}-routes-subnet`).inputs).toEqual({
        region,
        subnetId: `${region}-subnet-id`,
        routeTableId: `${region}-routes-id`,
      });
    }
    const zoneCalls = two.calls.filter((c) => c.token === "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings");
    expect(zoneCalls.map((c) => [c.inputs.region, (c.inputs.filters as { values: string[] }[])[0]?.values[0]])).toEqual(
      [
        ["eu-central-1", "t3.micro"],
        ["us-east-1", "t4g.micro"],
      ],
    );
  });

  it("security group rules, exactly: drasyl UDP/TCP and ICMP/ICMPv6 from anywhere, SSH from the operator only, v4 and v6", () => {
    const region = "eu-central-1";
    expect(byName(two.resources, `${region}-sg`).inputs).toEqual({
      region,
      vpcId: `${region}-vpc-id`,
      namePrefix: "drasyl-deploy-t-",
      description: "drasyl super peer (managed by drasyl-deploy)",
      tags: tags(region, "sg"),
    });
    const rules = two.resources
      .filter((r) => r.type === T.ingress && r.inputs.region === region)
      .map((r) => {
        const { ipProtocol, fromPort, toPort, cidrIpv4, cidrIpv6, securityGroupId } = r.inputs as Record<
          string,
          unknown
        >;
        return {
          name: r.name,
          ipProtocol,
          fromPort,
          toPort,
          source: cidrIpv4 ?? cidrIpv6,
          v6: cidrIpv6 !== undefined,
          securityGroupId,
        };
      });
    const sg = `${region}-sg-id`;
    expect(rules).toEqual([
      {
        name: `${region}-in-drasyl-udp-0-0-0-0-0`,
        ipProtocol: "udp",
        fromPort: 22527,
        toPort: 22527,
        source: "0.0.0.0/0",
        v6: false,
        securityGroupId: sg,
      },
      {
        name: `${region}-in-drasyl-udp-0`,
        ipProtocol: "udp",
        fromPort: 22527,
        toPort: 22527,
        source: "::/0",
        v6: true,
        securityGroupId: sg,
      },
      {
        name: `${region}-in-drasyl-tcp-0-0-0-0-0`,
        ipProtocol: "tcp",
        fromPort: 443,
        toPort: 443,
        source: "0.0.0.0/0",
        v6: false,
        securityGroupId: sg,
      },
      {
        name: `${region}-in-drasyl-tcp-0`,
        ipProtocol: "tcp",
        fromPort: 443,
        toPort: 443,
        source: "::/0",
        v6: true,
        securityGroupId: sg,
      },
      {
        name: `${region}-in-ssh-203-0-113-7-32`,
        ipProtocol: "tcp",
        fromPort: 22,
        toPort: 22,
        source: "203.0.113.7/32",
        v6: false,
        securityGroupId: sg,
      },
      {
        name: `${region}-in-ssh-2001-db8-77-64`,
        ipProtocol: "tcp",
        fromPort: 22,
        toPort: 22,
        source: "2001:db8:77::/64",
        v6: true,
        securityGroupId: sg,
      },
      {
        name: `${region}-in-icmp-0-0-0-0-0`,
        ipProtocol: "icmp",
        fromPort: -1,
        toPort: -1,
        source: "0.0.0.0/0",
        v6: false,
        securityGroupId: sg,
      },
      {
        name: `${region}-in-icmp-0`,
        ipProtocol: "icmpv6",
        fromPort: -1,
        toPort: -1,
        source: "::/0",
        v6: true,
        securityGroupId: sg,
      },
    ]);
    const egress = two.resources
      .filter((r) => r.type === T.egress && r.inputs.region === region)
      .map((r) => [r.inputs.ipProtocol, r.inputs.cidrIpv4 ?? r.inputs.cidrIpv6]);
    expect(egress).toEqual([
      ["-1", "0.0.0.0/0"],
      ["-1", "::/0"],
    ]);
  });

  it("Debian AMI looked up per region and architecture, from Debian's account", () => {
    const amis = two.calls.filter((c) => c.token === "aws:ec2/getAmi:getAmi");
    expect(amis.map((c) => c.inputs)).toEqual([
      {
        region: "eu-central-1",
        owners: [DEBIAN_AMI_OWNER],
        mostRecent: true,
        filters: [
          { name: "name", values: ["debian-12-amd64-*"] },
          { name: "architecture", values: ["x86_64"] },
          { name: "virtualization-type", values: ["hvm"] },
          { name: "root-device-type", values: ["ebs"] },
        ],
      },
      {
        region: "us-east-1",
        owners: [DEBIAN_AMI_OWNER],
        mostRecent: true,
        filters: [
          { name: "name", values: ["debian-12-arm64-*"] },
          { name: "architecture", values: ["arm64"] },
          { name: "virtualization-type", values: ["hvm"] },
          { name: "root-device-type", values: ["ebs"] },
        ],
      },
    ]);
  });

  it("instances: the region's AMI (ignored once running), IMDSv2 required, one IPv6, the key pair, user data", () => {
    for (const [region, type, arch, logical] of [
      ["eu-central-1", "t3.micro", "x86_64", "eu-central-1-server"],
      ["us-east-1", "t4g.micro", "arm64", "us-east-1-server-arm64"],
    ] as const) {
      const i = byName(two.resources, logical);
      expect(i.inputs).toEqual({
        region,
        ami: `ami-${region}-${arch}`,
        instanceType: type,
        subnetId: `${region}-subnet-id`,
        vpcSecurityGroupIds: [`${region}-sg-id`],
        keyName: "drasyl-deploy-t",
        associatePublicIpAddress: false,
        ipv6AddressCount: 1,
        metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
        creditSpecification: { cpuCredits: "standard" },
        userData: renderUserData({ user: "drasyl-deploy", authorizedKey: KEY }),
        userDataReplaceOnChange: false,
        tags: { ...tags(region, "server"), Name: `t-${region}` },
      });
      expect(i.options.ignoreChanges.sort()).toEqual(["ami", "userData"]);
      expect(i.options.dependencies).toEqual(
        expect.arrayContaining([expect.stringMatching(new RegExp(`::${region}-igw$`))]),
      );
      expect(byName(two.resources, `${region}-key`).inputs).toEqual({
        region,
        keyName: "drasyl-deploy-t",
        publicKey: KEY,
        tags: tags(region, "key"),
      });
    }
  });

  it("stable IPv4: an Elastic IP per region, associated with the instance", () => {
    for (const [region, instance] of [
      ["eu-central-1", "eu-central-1-server"],
      ["us-east-1", "us-east-1-server-arm64"],
    ] as const) {
      expect(byName(two.resources, `${region}-eip`).inputs).toEqual({
        region,
        domain: "vpc",
        tags: tags(region, "eip"),
      });
      expect(byName(two.resources, `${region}-eip-server`).inputs).toEqual({
        region,
        allocationId: `eipalloc-${region}`,
        instanceId: `${instance}-id`,
      });
    }
  });

  it("no resource collides with itself on replacement", () => {
    for (const region of ["eu-central-1", "us-east-1"]) {
      // Key pair names are unique per region (InvalidKeyPair.Duplicate): the old one goes first.
      const key = byName(two.resources, `${region}-key`);
      expect([key.inputs.keyName, key.options.deleteBeforeReplace]).toEqual(["drasyl-deploy-t", true]);
      // A group in use cannot be deleted first (DependencyViolation), so it has a prefix and AWS a unique name.
      const sg = byName(two.resources, `${region}-sg`);
      expect([sg.inputs.name, sg.inputs.namePrefix, sg.options.deleteBeforeReplace]).toEqual([
        undefined,
        "drasyl-deploy-t-",
        false,
      ]);
      // An Elastic IP takes one association (Resource.AlreadyAssociated): the old one goes first.
      expect(byName(two.resources, `${region}-eip-server`).options.deleteBeforeReplace).toBe(true);
    }
    // Nothing else carries a name AWS keeps unique (the Name tags are only labels; an instance's keyName refers to the key pair).
    const named = two.resources
      .filter((r) => r.type !== T.instance && ["name", "keyName", "namePrefix"].some((k) => r.inputs[k] !== undefined))
      .map((r) => r.name)
      .sort();
    expect(named).toEqual(["eu-central-1-key", "eu-central-1-sg", "us-east-1-key", "us-east-1-sg"]);
  });

  it("an architecture change (t3 <-> t4g) replaces the instance with one from the new architecture's AMI; a type of the same architecture is changed in place", async () => {
    const arm = await run(
      args([
        { region: "eu-central-1", instanceType: "t4g.micro" },
        { region: "us-east-1", instanceType: "t4g.micro" },
      ]),
    );
    const names = (r: typeof two) => r.resources.filter((x) => x.type === T.instance).map((x) => x.name);
    // Another logical name: the engine creates the new instance (no old inputs, so the new AMI,
    // not the ignored old one) and deletes the x64 instance; nothing updates it in place.
    expect(names(two)).toEqual(["eu-central-1-server", "us-east-1-server-arm64"]);
    expect(names(arm)).toEqual(["eu-central-1-server-arm64", "us-east-1-server-arm64"]);
    const created = byName(arm.resources, "eu-central-1-server-arm64");
    expect(created.inputs).toMatchObject({ ami: "ami-eu-central-1-arm64", instanceType: "t4g.micro" });
    expect(byName(arm.resources, "eu-central-1-eip-server").inputs.instanceId).toBe("eu-central-1-server-arm64-id");
    // Everything else in the region stays as it was: same VPC, group, key and Elastic IP.
    for (const r of two.resources.filter(
      (x) => x.inputs.region === "eu-central-1" && x.type !== T.instance && x.type !== T.eipAssoc,
    )) {
      expect(byName(arm.resources, r.name).inputs, r.name).toEqual(r.inputs);
    }
    expect(arm.outputs.servers.map((x) => x.arch)).toEqual(["arm64", "arm64"]);

    const bigger = await run(
      args([
        { region: "eu-central-1", instanceType: "t3.small" },
        { region: "us-east-1", instanceType: "t4g.micro" },
      ]),
    );
    expect(names(bigger)).toEqual(names(two));
    const before = byName(two.resources, "eu-central-1-server");
    const after = byName(bigger.resources, "eu-central-1-server");
    expect(
      Object.keys(after.inputs).filter((k) => JSON.stringify(after.inputs[k]) !== JSON.stringify(before.inputs[k])),
    ).toEqual(["instanceType"]);
    expect(after.options.replaceOnChanges).toEqual([]);
  });

  it("one set of resources per region", () => {
    const perRegion = (region: string) =>
      two.resources
        .filter((r) => r.type !== T.provider && r.inputs.region === region)
        .map((r) => r.type)
        .sort();
    expect(perRegion("eu-central-1")).toHaveLength(20);
    expect(perRegion("eu-central-1")).toEqual(perRegion("us-east-1"));
    const counts = Object.fromEntries(
      Object.entries(T).map(([k, type]) => [k, two.resources.filter((r) => r.type === type).length]),
    );
    expect(counts).toEqual({
      vpc: 2,
      subnet: 2,
      igw: 2,
      routes: 2,
      assoc: 2,
      sg: 2,
      ingress: 16,
      egress: 4,
      key: 2,
      instance: 2,
      eip: 2,
      eipAssoc: 2,
      provider: 1,
    });
  });

  it("stack outputs: the Elastic IP, the instance's IPv6, arch from the instance type", () => {
    expect(two.outputs.servers).toEqual([
      {
        name: "t-eu-central-1",
        region: "eu-central-1",
        ipv4: "203.0.113.12",
        ipv6: "2a05:d014:ab:cd00::10",
        arch: "x64",
        sshUser: "drasyl-deploy",
      },
      {
        name: "t-us-east-1",
        region: "us-east-1",
        ipv4: "203.0.113.9",
        ipv6: "2600:1f18:12:3400::10",
        arch: "arm64",
        sshUser: "drasyl-deploy",
      },
    ]);
  });

  it("adding a region adds only its own resources; removing one removes only its own", async () => {
    const three = await run(
      args(["eu-central-1", { region: "us-east-1", instanceType: "t4g.micro" }, "ap-southeast-1"]),
    );
    const key = (r: RecordedResource) => `${r.type}::${r.name}`;
    const before = new Set(two.resources.map(key));
    const added = three.resources.filter((r) => !before.has(key(r)));
    expect(added.length).toBe(20);
    expect(added.every((r) => r.inputs.region === "ap-southeast-1")).toBe(true);
    for (const r of two.resources) expect(byName(three.resources, r.name).inputs, r.name).toEqual(r.inputs);

    const one = await run(args([{ region: "us-east-1", instanceType: "t4g.micro" }]));
    const left = new Set(one.resources.map(key));
    const removed = two.resources.filter((r) => !left.has(key(r)));
    expect(removed.length).toBe(20);
    expect(removed.every((r) => r.inputs.region === "eu-central-1")).toBe(true);
    for (const r of one.resources) expect(r.inputs).toEqual(byName(two.resources, r.name).inputs);
  });

  it("a changed SSH source list touches only the SSH rules", async () => {
    const moved = await run(
      args(["eu-central-1", { region: "us-east-1", instanceType: "t4g.micro" }], { sshSources: ["198.51.100.9/32"] }),
    );
    const key = (r: RecordedResource) => `${r.type}::${r.name}`;
    const before = new Set(two.resources.map(key));
    const after = new Set(moved.resources.map(key));
    const changed = [...new Set([...before, ...after])].filter((k) => !(before.has(k) && after.has(k))).sort();
    expect(changed.every((k) => k.includes("-in-ssh-"))).toBe(true);
    expect(changed).toHaveLength(6);
  });
});

describe("aws program: an exposed metrics endpoint (pulumi mocks)", () => {
  it("one ingress rule per metricsFrom source on the metrics port, v4 and v6; nothing else changes", async () => {
    const base = await run(args(["eu-central-1"]));
    const open = await run(
      args(["eu-central-1"], { metrics: { port: 9898, sources: ["192.0.2.10/32", "2001:db8:99::/64"] } }),
    );
    const key = (r: RecordedResource) => `${r.type}::${r.name}`;
    const before = new Set(base.resources.map(key));
    const added = open.resources.filter((r) => !before.has(key(r)));
    expect(
      added.map((r) => {
        const { ipProtocol, fromPort, toPort, cidrIpv4, cidrIpv6, description } = r.inputs as Record<string, unknown>;
        return {
          name: r.name,
          type: r.type,
          ipProtocol,
          fromPort,
          toPort,
          source: cidrIpv4 ?? cidrIpv6,
          v6: cidrIpv6 !== undefined,
          description,
        };
      }),
    ).toEqual([
      {
        name: "eu-central-1-in-metrics-192-0-2-10-32",
        type: T.ingress,
        ipProtocol: "tcp",
        fromPort: 9898,
        toPort: 9898,
        source: "192.0.2.10/32",
        v6: false,
        description: "drasyl super peer metrics (Prometheus)",
      },
      {
        name: "eu-central-1-in-metrics-2001-db8-99-64",
        type: T.ingress,
        ipProtocol: "tcp",
        fromPort: 9898,
        toPort: 9898,
        source: "2001:db8:99::/64",
        v6: true,
        description: "drasyl super peer metrics (Prometheus)",
      },
    ]);
    for (const r of base.resources) expect(byName(open.resources, r.name).inputs, r.name).toEqual(r.inputs);
  });
});
