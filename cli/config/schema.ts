import { isIP } from "node:net";
import { z } from "zod";

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
        prometheusListen: z.string().default("127.0.0.1:9898"),
      })
      .prefault({}),
    targets: z.array(z.discriminatedUnion("kind", [localTarget, existingTarget])).min(1),
  })
  .superRefine((c, ctx) => {
    const seen = new Map<string, string>();
    c.targets.forEach((t, i) => {
      const names = t.kind === "local" ? t.regions.map((r) => `${c.deployment}-${r}`) : t.servers.map((s) => s.name);
      names.forEach((n, j) => {
        const path = t.kind === "local" ? ["targets", i, "regions", j] : ["targets", i, "servers", j, "name"];
        const where = t.kind === "local" ? `targets[${i}].regions[${j}]` : `targets[${i}].servers[${j}].name`;
        const prev = seen.get(n);
        if (prev) ctx.addIssue({ code: "custom", path, message: `server name "${n}" is already used at ${prev}` });
        seen.set(n, where);
      });
    });
  });

export type DeployConfig = z.infer<typeof configSchema>;
export type LocalTargetConfig = z.infer<typeof localTarget>;
export type ExistingTargetConfig = z.infer<typeof existingTarget>;

/** The server names a config yields, known before any server exists (identities are made for them first). */
export function serverNames(config: DeployConfig): string[] {
  return config.targets.flatMap((t) => (t.kind === "local" ? t.regions.map((r) => `${config.deployment}-${r}`) : t.servers.map((s) => s.name)));
}
