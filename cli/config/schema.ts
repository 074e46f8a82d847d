import { isIP } from "node:net";
import { z } from "zod";
import { awsServerSpecs, AWS_DEFAULT_IMAGE, AWS_DEFAULT_REGIONS, checkAwsImage, checkInstanceType, checkRegion } from "../../stacks/aws/catalog.ts";
import { checkImage, checkLocation, checkServerType, HCLOUD_DEFAULT_IMAGE, HCLOUD_DEFAULT_LOCATIONS, hcloudServerSpecs } from "../../stacks/hcloud/catalog.ts";
import { namingProblems } from "../../stacks/dns/naming.ts";
import { dnsSchema } from "../../stacks/dns/schema.ts";
import { checkListen, isExposed } from "../../stacks/monitoring/exposure.ts";

const NAME = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;
const nameField = (what: string) =>
  z.string().regex(NAME, `${what} must be 1-32 characters of a-z, 0-9 and '-', starting and ending with a letter or digit`);
const port = z.number().int().min(1).max(65535);
const hostname = z
  .string()
  .min(1)
  .refine((h) => isIP(h) !== 0 || /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)*[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/.test(h), {
    message: "must be an IP address or a DNS name",
  });

const localTarget = z.strictObject({
  kind: z.literal("local"),
  regions: z.array(nameField("a region")).min(1).max(16),
  sshUser: z.enum(["root", "deploy"]).default("root"),
});

const existingServer = z.strictObject({
  name: nameField("a server name"),
  region: z.string().min(1).max(64),
  host: hostname,
  ipv6: z.string().refine((v) => isIP(v) === 6, { message: "must be an IPv6 address" }).optional(),
  dnsName: hostname.optional(),
  sshPort: port.default(22),
  user: z.string().regex(/^[a-z_][a-z0-9_-]*$/, "must be a Unix user name").default("root"),
  privateKey: z.string().min(1).optional(),
  hostKey: z
    .string()
    .regex(/^(ssh-ed25519|ecdsa-sha2-nistp\d+|ssh-rsa) [A-Za-z0-9+/=]+/, "must be an OpenSSH public host key line, e.g. 'ssh-ed25519 AAAA...'")
    .optional(),
});

const existingTarget = z.strictObject({
  kind: z.literal("existing"),
  servers: z.array(existingServer).min(1),
});

/** An IPv4 or IPv6 network in CIDR notation, e.g. 203.0.113.7/32 or 2001:db8::/48. */
const cidr = z.string().refine(
  (v) => {
    const [addr, len, extra] = v.split("/");
    const family = isIP(addr ?? "");
    if (extra !== undefined || family === 0 || !/^\d{1,3}$/.test(len ?? "")) return false;
    return Number(len) <= (family === 4 ? 32 : 128);
  },
  { message: "must be an IPv4 or IPv6 network in CIDR notation, e.g. 203.0.113.7/32 or 2001:db8::/48" },
);

/** The fields every cloud target shares. */
const cloudFields = {
  /** The user cloud-init creates with the deployment's SSH key and passwordless sudo; "root" logs in as root. */
  sshUser: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]{0,31}$/, "must be a Unix user name")
    .refine((u) => u !== "drasyl-sp", { message: "drasyl-sp is the super peer's own service user; pick another login user" })
    .default("drasyl-deploy"),
  /** Who may connect to SSH; default: this machine's current public address. */
  allowSsh: z.array(cidr).min(1).optional(),
  /** Pulumi state backend URL (file://, s3://, https://api.pulumi.com, ...); default file://<state dir>/pulumi. */
  backend: z.string().regex(/^[a-z][a-z0-9+.-]*:\/\//, "must be a Pulumi backend URL such as file:///path, s3://bucket or https://api.pulumi.com").optional(),
};

const hcloudLocationEntry = z.union([
  z.string(),
  z.strictObject({ location: z.string(), serverType: z.string().optional(), image: z.string().optional() }),
]);

const hcloudTarget = z
  .strictObject({
    kind: z.literal("hcloud"),
    locations: z.array(hcloudLocationEntry).min(1).max(16).default([...HCLOUD_DEFAULT_LOCATIONS]),
    /** Default: the smallest current shared-CPU type of each location. */
    serverType: z.string().optional(),
    image: z.string().default(HCLOUD_DEFAULT_IMAGE),
    ...cloudFields,
  })
  .superRefine((t, ctx) => {
    const seen = new Set<string>();
    t.locations.forEach((entry, i) => {
      const e = typeof entry === "string" ? { location: entry } : entry;
      const at = typeof entry === "string" ? ["locations", i] : ["locations", i, "location"];
      const bad = checkLocation(e.location);
      if (bad) ctx.addIssue({ code: "custom", path: at, message: bad });
      else if (seen.has(e.location)) ctx.addIssue({ code: "custom", path: at, message: `location ${e.location} is listed twice (one server per location)` });
      seen.add(e.location);
      const spec = hcloudServerSpecs("x", { ...t, locations: [entry] })[0];
      if (!spec) return;
      const typeProblem = checkServerType(e.location, spec.serverType);
      if (typeProblem) {
        const path = typeof entry !== "string" && entry.serverType ? ["locations", i, "serverType"] : t.serverType ? ["serverType"] : ["locations", i];
        ctx.addIssue({ code: "custom", path, message: typeProblem });
      }
      const imageProblem = checkImage(spec.image);
      if (imageProblem) ctx.addIssue({ code: "custom", path: typeof entry !== "string" && entry.image ? ["locations", i, "image"] : ["image"], message: imageProblem });
    });
  });

const awsRegionEntry = z.union([z.string(), z.strictObject({ region: z.string(), instanceType: z.string().optional() })]);

const awsTarget = z
  .strictObject({
    kind: z.literal("aws"),
    regions: z.array(awsRegionEntry).min(1).max(16).default([...AWS_DEFAULT_REGIONS]),
    /** Default t3.micro; Graviton types (t4g, m7g, ...) make arm64 servers. */
    instanceType: z.string().optional(),
    image: z.string().default(AWS_DEFAULT_IMAGE),
    ...cloudFields,
  })
  .superRefine((t, ctx) => {
    const seen = new Set<string>();
    t.regions.forEach((entry, i) => {
      const e = typeof entry === "string" ? { region: entry } : entry;
      const at = typeof entry === "string" ? ["regions", i] : ["regions", i, "region"];
      const bad = checkRegion(e.region);
      if (bad) ctx.addIssue({ code: "custom", path: at, message: bad });
      else if (seen.has(e.region)) ctx.addIssue({ code: "custom", path: at, message: `region ${e.region} is listed twice (one server per region)` });
      seen.add(e.region);
      const type = e.instanceType ?? t.instanceType;
      const typeProblem = type === undefined ? undefined : checkInstanceType(type);
      if (typeProblem) ctx.addIssue({ code: "custom", path: e.instanceType ? ["regions", i, "instanceType"] : ["instanceType"], message: typeProblem });
    });
    const imageProblem = checkAwsImage(t.image);
    if (imageProblem) ctx.addIssue({ code: "custom", path: ["image"], message: imageProblem });
  });

export const configSchema = z
  .strictObject({
    deployment: nameField("deployment"),
    networkId: z.number().int().min(-0x80000000).max(0x7fffffff).default(1),
    ports: z.strictObject({ udp: port.default(22527), tcp: port.default(443) }).prefault({}),
    superPeer: z
      .strictObject({
        armMessages: z.boolean().default(true),
        maxPeers: z.number().int().min(0).default(8192),
        logLevel: z.enum(["error", "warn", "info", "debug", "trace"]).default("info"),
        prometheusListen: z
          .string()
          .default("127.0.0.1:9898")
          .superRefine((v, ctx) => {
            const problem = checkListen(v);
            if (problem) ctx.addIssue({ code: "custom", message: problem });
          }),
        /** The metrics bearer token's file (0600); $DRASYL_DEPLOY_METRICS_TOKEN wins over it. */
        prometheusTokenFile: z.string().min(1).optional(),
        /** Who may reach an exposed metrics endpoint through the cloud firewalls. */
        metricsFrom: z.array(cidr).min(1).optional(),
      })
      .prefault({}),
    dns: dnsSchema.optional(),
    targets: z.array(z.discriminatedUnion("kind", [localTarget, existingTarget, hcloudTarget, awsTarget])).min(1),
  })
  .superRefine((c, ctx) => {
    const clouds = c.targets.filter((t) => t.kind === "hcloud" || t.kind === "aws").length > 0;
    if (clouds && checkListen(c.superPeer.prometheusListen) === undefined && isExposed(c.superPeer.prometheusListen) && !c.superPeer.metricsFrom) {
      ctx.addIssue({
        code: "custom",
        path: ["superPeer", "metricsFrom"],
        message: `superPeer.prometheusListen ${c.superPeer.prometheusListen} exposes the metrics endpoint: list who may scrape it (your Prometheus, e.g. [203.0.113.9/32]); the cloud firewalls open the port to these sources only`,
      });
    }
    if (c.dns) {
      const owner = c.dns.provider === "hcloud" ? "hcloud" : c.dns.provider === "route53" ? "aws" : undefined;
      if (owner && !c.targets.some((t) => t.kind === owner)) {
        ctx.addIssue({ code: "custom", path: ["dns", "provider"], message: `${c.dns.provider} records are managed by the ${owner} stack: add a ${owner} target, or use provider: none and publish the records yourself` });
      }
      const named = c.targets.flatMap((t) => targetServers(c.deployment, t)).map((s) => ({ deployment: c.deployment, ...s }));
      for (const message of namingProblems(c.dns, named)) ctx.addIssue({ code: "custom", path: ["dns", "name"], message });
    }
    const seen = new Map<string, string>();
    c.targets.forEach((t, i) => {
      targetServerNames(c.deployment, t).forEach((n, j) => {
        const field = t.kind === "local" ? `regions[${j}]` : t.kind === "existing" ? `servers[${j}].name` : t.kind === "hcloud" ? `locations[${j}]` : `regions[${j}]`;
        const path = t.kind === "local" ? ["targets", i, "regions", j] : t.kind === "existing" ? ["targets", i, "servers", j, "name"] : ["targets", i, t.kind === "hcloud" ? "locations" : "regions", j];
        const prev = seen.get(n);
        if (prev) ctx.addIssue({ code: "custom", path, message: `server name "${n}" is already used at ${prev}` });
        seen.set(n, `targets[${i}].${field}`);
      });
    });
  });

export type DeployConfig = z.infer<typeof configSchema>;
export type LocalTargetConfig = z.infer<typeof localTarget>;
export type ExistingTargetConfig = z.infer<typeof existingTarget>;
export type HcloudTargetConfig = z.infer<typeof hcloudTarget>;
export type AwsTargetConfig = z.infer<typeof awsTarget>;
type TargetConfig = DeployConfig["targets"][number];

/** Every server a target yields, with its region, known before any server exists. */
export function targetServers(deployment: string, t: TargetConfig): { server: string; region: string }[] {
  switch (t.kind) {
    case "local":
      return t.regions.map((r) => ({ server: `${deployment}-${r}`, region: r }));
    case "existing":
      return t.servers.map((s) => ({ server: s.name, region: s.region }));
    case "hcloud":
      return hcloudServerSpecs(deployment, t).map((s) => ({ server: s.name, region: s.location }));
    case "aws":
      return awsServerSpecs(deployment, t).map((s) => ({ server: s.name, region: s.region }));
  }
}

function targetServerNames(deployment: string, t: TargetConfig): string[] {
  return targetServers(deployment, t).map((s) => s.server);
}

/** The server names a config yields, known before any server exists (identities are made for them first). */
export function serverNames(config: DeployConfig): string[] {
  return config.targets.flatMap((t) => targetServerNames(config.deployment, t));
}
