import type { Input, Output, ProviderResource, Resource } from "@pulumi/pulumi";
import { type AwsDnsServer, route53Records } from "../dns/route53-records.ts";
import { renderUserData } from "../pulumi/cloud-init.ts";
import { ANYWHERE, cidrFamily, cidrSlug, type InboundRule, inboundRules } from "../pulumi/firewall.ts";
import type { CloudProgramArgs, CloudProgramOutputs, ServerOutput } from "../pulumi/outputs.ts";
import type { ServerArch } from "../provider.ts";
import { pulumiSdk } from "../pulumi/sdk.ts";
import { type Aws, awsSdk } from "./sdk.ts";
import { amiFilter, type AwsServerSpec, DEBIAN_AMI_OWNER } from "./catalog.ts";

export type AwsProgramArgs = CloudProgramArgs<AwsServerSpec>;
export type AwsProgramOutputs = CloudProgramOutputs;

/**
 * The region resources run under, which the AWS provider needs although every resource names its
 * own region (provider v7). Fixed, so adding or removing regions never touches the provider.
 */
export const AWS_PROVIDER_REGION = "us-east-1";
export const VPC_CIDR = "10.0.0.0/16";
export const SUBNET_CIDR = "10.0.0.0/24";

/** The index-th /64 of an IPv6 network such as the /56 Amazon assigns to a VPC. */
export function ipv6Subnet64(cidr: string, index = 0): string {
  const [addr, len] = cidr.split("/");
  const prefix = Number(len);
  if (!addr || !Number.isInteger(prefix) || prefix > 64)
    throw new Error(`not an IPv6 network of /64 or larger: ${cidr}`);
  const [head = "", tail = ""] = addr.split("::");
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t].map((g) => BigInt(`0x${g || "0"}`));
  let value = groups.reduce((acc, g) => (acc << 16n) | g, 0n);
  if (index >= 2 ** (64 - prefix)) throw new Error(`${cidr} has no /64 number ${index}`);
  value |= BigInt(index) << 64n;
  const out: string[] = [];
  for (let i = 7; i >= 4; i--) out.push(((value >> BigInt(i * 16)) & 0xffffn).toString(16));
  return `${out.join(":")}::/64`;
}

export function awsResourceName(region: string, what: string): string {
  return `${region}-${what}`;
}

/**
 * The instance's logical name. An instance cannot change architecture in place, and its AMI is
 * ignored once it runs (the engine would give a replacement the old AMI too), so an arm64 instance
 * is another resource than an x64 one: a change creates the new instance from the new
 * architecture's AMI and deletes the old. x64 keeps the name instances always had.
 */
export function awsInstanceName(region: string, arch: ServerArch): string {
  return awsResourceName(region, arch === "x64" ? "server" : `server-${arch}`);
}

/** What every resource of one region is created with. */
interface RegionContext {
  aws: Aws;
  region: string;
  server: AwsServerSpec;
  deployment: string;
  provider: ProviderResource;
  name: (what: string) => string;
  tags: (what: string) => Record<string, string>;
}

/** The region's network: a VPC with an Amazon IPv6 /56, one dual-stack /64 subnet, routes out both ways. */
function regionNetwork(c: RegionContext) {
  const { aws, region, provider } = c;
  const opts = { provider };
  const vpc = new aws.ec2.Vpc(
    c.name("vpc"),
    {
      region,
      cidrBlock: VPC_CIDR,
      assignGeneratedIpv6CidrBlock: true,
      enableDnsSupport: true,
      enableDnsHostnames: true,
      tags: c.tags("vpc"),
    },
    opts,
  );
  // The first availability zone (by name) that offers the instance type: not every zone has every type.
  const instanceType = c.server.instanceType;
  const zone = aws.ec2
    .getInstanceTypeOfferingsOutput(
      { region, locationType: "availability-zone", filters: [{ name: "instance-type", values: [instanceType] }] },
      { provider },
    )
    .apply((o) => {
      const zones = [...o.locations].sort();
      if (zones.length === 0)
        throw new Error(`instance type ${instanceType} is not offered in any availability zone of ${region}`);
      return zones[0] as string;
    });
  const subnet = new aws.ec2.Subnet(
    c.name("subnet"),
    {
      region,
      vpcId: vpc.id,
      availabilityZone: zone,
      cidrBlock: SUBNET_CIDR,
      ipv6CidrBlock: vpc.ipv6CidrBlock.apply((cidr) => ipv6Subnet64(cidr, 0)),
      assignIpv6AddressOnCreation: true,
      mapPublicIpOnLaunch: false,
      tags: c.tags("subnet"),
    },
    // Zone offerings change over time; a subnet (and the instance in it) must not move for that.
    { ...opts, ignoreChanges: ["availabilityZone"] },
  );
  const igw = new aws.ec2.InternetGateway(c.name("igw"), { region, vpcId: vpc.id, tags: c.tags("igw") }, opts);
  const routes = new aws.ec2.RouteTable(
    c.name("routes"),
    {
      region,
      vpcId: vpc.id,
      routes: [
        { cidrBlock: "0.0.0.0/0", gatewayId: igw.id },
        { ipv6CidrBlock: "::/0", gatewayId: igw.id },
      ],
      tags: c.tags("routes"),
    },
    opts,
  );
  new aws.ec2.RouteTableAssociation(
    c.name("routes-subnet"),
    { region, subnetId: subnet.id, routeTableId: routes.id },
    opts,
  );
  return { vpc, subnet, igw };
}

/** The security group with the firewall policy's inbound rules, one per rule and source, and all outbound. */
function regionSecurityGroup(c: RegionContext, vpcId: Output<string>, rules: InboundRule[]) {
  const { aws, region, provider } = c;
  const opts = { provider };
  const sg = new aws.ec2.SecurityGroup(
    c.name("sg"),
    {
      region,
      vpcId,
      // A prefix, not a name: names are unique per VPC and a group in use cannot be deleted first,
      // so a replacement needs a name of its own while the instance still uses the old group.
      namePrefix: `drasyl-deploy-${c.deployment}-`,
      description: "drasyl super peer (managed by drasyl-deploy)",
      tags: c.tags("sg"),
    },
    opts,
  );
  for (const rule of rules) {
    for (const source of rule.sources) {
      const v6 = cidrFamily(source) === 6;
      const ports =
        rule.protocol === "icmp" ? { fromPort: -1, toPort: -1 } : { fromPort: rule.port, toPort: rule.port };
      new aws.vpc.SecurityGroupIngressRule(
        // Named by rule and source, so adding or removing one SSH source touches only its own rule.
        c.name(`in-${rule.key}-${cidrSlug(source)}`),
        {
          region,
          securityGroupId: sg.id,
          ipProtocol: rule.protocol === "icmp" ? (v6 ? "icmpv6" : "icmp") : rule.protocol,
          ...ports,
          ...(v6 ? { cidrIpv6: source } : { cidrIpv4: source }),
          description: rule.description,
          tags: c.tags(`in-${rule.key}`),
        },
        opts,
      );
    }
  }
  // AWS's default allow-all egress rule is removed when the provider creates a group: add it back.
  for (const source of ANYWHERE) {
    const v6 = cidrFamily(source) === 6;
    new aws.vpc.SecurityGroupEgressRule(
      c.name(`out-${v6 ? "ipv6" : "ipv4"}`),
      {
        region,
        securityGroupId: sg.id,
        ipProtocol: "-1",
        ...(v6 ? { cidrIpv6: source } : { cidrIpv4: source }),
        description: "all outbound",
        tags: c.tags("out"),
      },
      opts,
    );
  }
  return sg;
}

/** The key pair, the instance from Debian's AMI and the Elastic IP that stays when the instance is replaced. */
function regionInstance(
  c: RegionContext,
  net: { subnetId: Output<string>; securityGroupId: Output<string>; igw: Resource },
  login: { sshPublicKey: string; userData: string },
) {
  const { aws, region, provider, server } = c;
  const opts = { provider };
  const keyPair = new aws.ec2.KeyPair(
    c.name("key"),
    { region, keyName: `drasyl-deploy-${c.deployment}`, publicKey: login.sshPublicKey, tags: c.tags("key") },
    // A new deployment key replaces the key pair under the same name, which must be free first
    // (InvalidKeyPair.Duplicate); running instances keep the key they were launched with.
    { ...opts, deleteBeforeReplace: true },
  );

  const filter = amiFilter(server.image, server.arch);
  const ami = aws.ec2.getAmiOutput(
    {
      region,
      owners: [DEBIAN_AMI_OWNER],
      mostRecent: true,
      filters: [
        { name: "name", values: [filter.name] },
        { name: "architecture", values: [filter.architecture] },
        { name: "virtualization-type", values: ["hvm"] },
        { name: "root-device-type", values: ["ebs"] },
      ],
    },
    { provider },
  );

  const instance = new aws.ec2.Instance(
    awsInstanceName(region, server.arch),
    {
      region,
      ami: ami.id,
      instanceType: server.instanceType,
      subnetId: net.subnetId,
      vpcSecurityGroupIds: [net.securityGroupId],
      keyName: keyPair.keyName,
      // No ephemeral public IPv4: the Elastic IP is the server's only IPv4 address.
      associatePublicIpAddress: false,
      ipv6AddressCount: 1,
      metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
      // Burstable types default to "unlimited" CPU credits, which can cost extra; a super peer needs no bursts beyond the baseline.
      ...(/^t\d/.test(server.instanceType) ? { creditSpecification: { cpuCredits: "standard" } } : {}),
      userData: login.userData,
      userDataReplaceOnChange: false,
      tags: { ...c.tags("server"), Name: server.name },
    },
    // A newer Debian AMI or changed user data must not replace a running super peer; the installer
    // converges it over SSH. Another type of the same architecture is changed in place (the
    // provider stops the instance, changes the type and starts it again).
    { ...opts, ignoreChanges: ["ami", "userData"], dependsOn: [net.igw] },
  );
  const eip = new aws.ec2.Eip(
    c.name("eip"),
    { region, domain: "vpc", tags: c.tags("eip") },
    { ...opts, dependsOn: [net.igw] },
  );
  const association = new aws.ec2.EipAssociation(
    c.name("eip-server"),
    { region, allocationId: eip.allocationId, instanceId: instance.id },
    // A replaced instance replaces the association; an address can have one only (Resource.AlreadyAssociated).
    { ...opts, deleteBeforeReplace: true },
  );
  return { instance, eip, association };
}

/**
 * The AWS stack of one deployment. Per region: a small VPC of its own with an Amazon-provided
 * IPv6 /56 and one dual-stack /64 subnet (the default VPC has no IPv6), an internet gateway and
 * routes for both families, a security group, the key pair, and an instance (Debian, IMDSv2 only,
 * one IPv6 address) behind an Elastic IP, so the IPv4 address survives a replaced instance.
 */
export function awsProgram(args: AwsProgramArgs): AwsProgramOutputs {
  const pulumi = pulumiSdk();
  const aws = awsSdk();
  const provider = new aws.Provider("aws", { region: AWS_PROVIDER_REGION });
  const rules = inboundRules({
    udpPort: args.ports.udp,
    tcpPort: args.ports.tcp,
    sshSources: args.sshSources,
    metrics: args.metrics,
  });
  const login = {
    sshPublicKey: args.sshPublicKey,
    userData: renderUserData({ user: args.sshUser, authorizedKey: args.sshPublicKey }),
  };

  const dnsServers: AwsDnsServer[] = [];
  const servers = args.servers.map((s) => {
    const region = s.region;
    const c: RegionContext = {
      aws,
      region,
      server: s,
      deployment: args.deployment,
      provider,
      name: (what) => awsResourceName(region, what),
      tags: (what) => ({
        Name: `${s.name}-${what}`,
        "managed-by": "drasyl-deploy",
        deployment: args.deployment,
        region,
      }),
    };
    const net = regionNetwork(c);
    const sg = regionSecurityGroup(c, net.vpc.id, rules);
    const { instance, eip, association } = regionInstance(
      c,
      { subnetId: net.subnet.id, securityGroupId: sg.id, igw: net.igw },
      login,
    );

    const out = {
      name: s.name,
      region,
      // The address is the server's only once the association exists.
      ipv4: pulumi.all([eip.publicIp, association.id]).apply(([ip]) => ip),
      ipv6: instance.ipv6Addresses.apply((a) => a[0] ?? ""),
      arch: s.arch,
      sshUser: args.sshUser,
    } satisfies { [K in keyof ServerOutput]: Input<ServerOutput[K]> };
    // The Elastic IP, not the association: the A record does not change when the instance is replaced.
    dnsServers.push({ name: s.name, region, ipv4: eip.publicIp, ipv6: out.ipv6, allocationId: eip.allocationId });
    return out;
  });
  if (args.dns) route53Records(aws, provider, args.dns, dnsServers);

  return { servers: pulumi.output(servers) as Output<ServerOutput[]> };
}
