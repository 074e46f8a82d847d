import { isIP } from "node:net";
import { z } from "zod";
import { hostnameField, nameField, portField, unixUserField } from "../config-fields.ts";
import { dnsRecordField } from "../dns/schema.ts";

const existingServer = z.strictObject({
  name: nameField("a server name"),
  region: z.string().min(1).max(64),
  /** IP or DNS name to reach it over SSH; a DNS name is also what clients get. */
  host: hostnameField,
  ipv6: z
    .string()
    .refine((v) => isIP(v) === 6, { message: "must be an IPv6 address" })
    .optional(),
  /** Preferred in DRASYL_SUPER_PEERS; the health check fails when it does not resolve to this server. */
  dnsName: hostnameField.optional(),
  /** Its record name in dns.zone when the deployment's dns section manages it (set by a move onto this server). */
  dnsRecord: dnsRecordField.optional(),
  sshPort: portField.default(22),
  /** root, or a user with passwordless sudo. */
  user: unixUserField.default("root"),
  /** Default: the ssh-agent at $SSH_AUTH_SOCK. */
  privateKey: z.string().min(1).optional(),
  /** Default: pinned on first contact. */
  hostKey: z
    .string()
    .regex(
      /^(ssh-ed25519|ecdsa-sha2-nistp\d+|ssh-rsa) [A-Za-z0-9+/=]+/,
      "must be an OpenSSH public host key line, e.g. 'ssh-ed25519 AAAA...'",
    )
    .optional(),
});

/** Servers the operator already has. */
export const existingTargetSchema = z.strictObject({
  kind: z.literal("existing"),
  servers: z.array(existingServer).min(1),
});

export type ExistingTargetConfig = z.infer<typeof existingTargetSchema>;
