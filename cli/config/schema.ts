import { z } from "zod";
import { cidrField, formatFieldPath, nameField, portField } from "../../stacks/config-fields.ts";
import { namingProblems } from "../../stacks/dns/naming.ts";
import { dnsSchema } from "../../stacks/dns/schema.ts";
import { dnsManagingKind, hasManagedFirewall, targetSchema, targetServerNames } from "../../stacks/kinds.ts";
import { isExposed } from "../../stacks/monitoring/exposure.ts";
import { DEFAULT_SETTINGS, prometheusListenProblem, TOKEN_ALPHABET } from "../../stacks/install/settings.ts";
import { LOG_LEVELS } from "../../sp-runtime/daemon/config.ts";

/** The deployment config file: the deployment-wide settings and the targets, each checked by its own kind. */
export const configSchema = z
  .strictObject({
    deployment: nameField("deployment"),
    networkId: z.number().int().min(-0x80000000).max(0x7fffffff).default(DEFAULT_SETTINGS.networkId),
    ports: z
      .strictObject({
        udp: portField.default(DEFAULT_SETTINGS.udpPort),
        tcp: portField.default(DEFAULT_SETTINGS.tcpPort),
      })
      .prefault({}),
    superPeer: z
      .strictObject({
        armMessages: z.boolean().default(DEFAULT_SETTINGS.arm),
        /** 0 = unlimited. */
        maxPeers: z.number().int().min(0).default(DEFAULT_SETTINGS.maxPeers),
        logLevel: z.enum(LOG_LEVELS).default(DEFAULT_SETTINGS.logLevel),
        /** ip:port of the /metrics endpoint on the server, "" disables it. */
        prometheusListen: z
          .string()
          .superRefine((v, ctx) => {
            const problem = prometheusListenProblem(v);
            if (problem) ctx.addIssue({ code: "custom", message: problem });
          })
          .default(DEFAULT_SETTINGS.prometheusListen),
        /** Bearer token /metrics requires, "" for none. A secret: never printed or logged. */
        prometheusToken: z
          .string()
          .regex(TOKEN_ALPHABET, "may only contain A-Z a-z 0-9 . _ ~ + / = -")
          .default(DEFAULT_SETTINGS.prometheusToken),
        /** The token's file (0600), kept out of the config; $DRASYL_DEPLOY_METRICS_TOKEN wins over both. */
        prometheusTokenFile: z.string().min(1).optional(),
        /** Who may reach an exposed metrics endpoint through the cloud firewalls. */
        metricsFrom: z.array(cidrField).min(1).optional(),
      })
      .prefault({}),
    dns: dnsSchema.optional(),
    targets: z.array(targetSchema).min(1),
    /** An identity backup `up` writes whenever it holds identities no backup has yet. */
    backup: z
      .strictObject({
        file: z.string().min(1),
        recipients: z
          .array(z.string().regex(/^age1[0-9a-z]+$/, "must be an age recipient (age1...)"))
          .min(1)
          .optional(),
        passphraseFile: z.string().min(1).optional(),
      })
      .optional(),
  })
  .superRefine((c, ctx) => {
    const listen = c.superPeer.prometheusListen;
    if (
      c.targets.some(hasManagedFirewall) &&
      prometheusListenProblem(listen) === undefined &&
      isExposed(listen) &&
      !c.superPeer.metricsFrom
    ) {
      ctx.addIssue({
        code: "custom",
        path: ["superPeer", "metricsFrom"],
        message: `superPeer.prometheusListen ${listen} exposes the metrics endpoint: list who may scrape it (your Prometheus, e.g. [203.0.113.9/32]); the cloud firewalls open the port to these sources only`,
      });
    }
    if (c.dns) {
      const owner = dnsManagingKind(c.dns.provider);
      if (owner && !c.targets.some((t) => t.kind === owner)) {
        ctx.addIssue({
          code: "custom",
          path: ["dns", "provider"],
          message: `${c.dns.provider} records are managed by the ${owner} stack: add a target of kind ${owner}, or use provider: none and publish the records yourself`,
        });
      }
      const named = c.targets
        .flatMap((t) => targetServerNames(c.deployment, t))
        .map((s) => ({ deployment: c.deployment, server: s.name, region: s.region, record: s.dnsRecord }));
      for (const message of namingProblems(c.dns, named))
        ctx.addIssue({ code: "custom", path: ["dns", "name"], message });
    }
    c.targets.forEach((t, i) => {
      for (const s of targetServerNames(c.deployment, t)) {
        if (s.dnsRecord === undefined) continue;
        const path = ["targets", i, ...s.path.slice(0, 2), "dnsRecord"];
        if (!c.dns)
          ctx.addIssue({
            code: "custom",
            path,
            message: `${s.name} pins the DNS record ${s.dnsRecord}, but the config has no dns section: add it (the zone the name lives in), or remove dnsRecord`,
          });
        else if (t.kind === "existing" && t.servers[s.path[1] as number]?.dnsName)
          ctx.addIssue({
            code: "custom",
            path,
            message: `${s.name} has both dnsName (a name its operator publishes) and dnsRecord (a record in ${c.dns.zone}): keep one`,
          });
      }
    });
    const seen = new Map<string, string>();
    c.targets.forEach((t, i) => {
      for (const { name, path } of targetServerNames(c.deployment, t)) {
        const prev = seen.get(name);
        if (prev)
          ctx.addIssue({
            code: "custom",
            path: ["targets", i, ...path],
            message: `server name "${name}" is already used at ${prev}`,
          });
        seen.set(name, formatFieldPath(["targets", i, ...path]));
      }
    });
  });

export type DeployConfig = z.infer<typeof configSchema>;

/** The server names a config yields, known before any server exists (identities are made for them first). */
export function serverNames(config: DeployConfig): string[] {
  return config.targets.flatMap((t) => targetServerNames(config.deployment, t).map((s) => s.name));
}

/** Server -> the DNS record name the config pins for it (set by move; see dnsRecordField). */
export function dnsRecordPins(config: DeployConfig): Record<string, string> {
  const pins: Record<string, string> = {};
  for (const t of config.targets)
    for (const s of targetServerNames(config.deployment, t)) if (s.dnsRecord !== undefined) pins[s.name] = s.dnsRecord;
  return pins;
}

function regionOf(entry: string | { region?: string; location?: string }): string {
  return typeof entry === "string" ? entry : (entry.region ?? entry.location ?? "");
}

/** Every server of the config with its region (the location for hcloud), in config order. */
export function serverRegions(config: DeployConfig): { name: string; region: string }[] {
  return config.targets.flatMap((t) => {
    const regions =
      t.kind === "existing"
        ? t.servers.map((s) => s.region)
        : t.kind === "hcloud"
          ? t.locations.map(regionOf)
          : t.regions.map(regionOf);
    return targetServerNames(config.deployment, t).map((s, i) => ({ name: s.name, region: regions[i] ?? "" }));
  });
}
