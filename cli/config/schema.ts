import { z } from "zod";
import { formatFieldPath, nameField, portField } from "../../stacks/config-fields.ts";
import { targetSchema, targetServerNames } from "../../stacks/kinds.ts";
import { DEFAULT_SETTINGS, prometheusListenProblem, TOKEN_ALPHABET } from "../../stacks/install/settings.ts";
import { LOG_LEVELS } from "../../sp-runtime/daemon/config.ts";

/** The deployment config file: the deployment-wide settings and the targets, each checked by its own kind. */
export const configSchema = z
  .strictObject({
    deployment: nameField("deployment"),
    networkId: z.number().int().min(-0x80000000).max(0x7fffffff).default(DEFAULT_SETTINGS.networkId),
    ports: z.strictObject({ udp: portField.default(DEFAULT_SETTINGS.udpPort), tcp: portField.default(DEFAULT_SETTINGS.tcpPort) }).prefault({}),
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
        prometheusToken: z.string().regex(TOKEN_ALPHABET, "may only contain A-Z a-z 0-9 . _ ~ + / = -").default(DEFAULT_SETTINGS.prometheusToken),
      })
      .prefault({}),
    targets: z.array(targetSchema).min(1),
  })
  .superRefine((c, ctx) => {
    const seen = new Map<string, string>();
    c.targets.forEach((t, i) => {
      for (const { name, path } of targetServerNames(c.deployment, t)) {
        const prev = seen.get(name);
        if (prev) ctx.addIssue({ code: "custom", path: ["targets", i, ...path], message: `server name "${name}" is already used at ${prev}` });
        seen.set(name, formatFieldPath(["targets", i, ...path]));
      }
    });
  });

export type DeployConfig = z.infer<typeof configSchema>;

/** The server names a config yields, known before any server exists (identities are made for them first). */
export function serverNames(config: DeployConfig): string[] {
  return config.targets.flatMap((t) => targetServerNames(config.deployment, t).map((s) => s.name));
}
