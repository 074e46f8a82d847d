import { z } from "zod";

export const DNS_PROVIDERS = ["hcloud", "route53", "none"] as const;
export type DnsProvider = (typeof DNS_PROVIDERS)[number];

const LABEL = "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?";
const DOMAIN = new RegExp(`^(?=.{1,253}$)(${LABEL}\\.)+${LABEL}$`);
const RELATIVE = new RegExp(`^(?=.{1,253}$)(${LABEL}\\.)*${LABEL}$`);

/**
 * A super peer's own record name in dns.zone, overriding dns.name for it: `move` pins the name a
 * super peer had when its region changes, since clients know the super peer by it.
 */
export const dnsRecordField = z
  .string()
  .transform((n) => n.toLowerCase())
  .refine((n) => RELATIVE.test(n), {
    message: "must be a record name relative to dns.zone, such as sp-fsn1 (labels of a-z, 0-9 and '-')",
  });

export const NAME_PLACEHOLDERS = ["region", "server", "deployment"] as const;

/**
 * The `dns:` section: publish every super peer under <name>.<zone> (A and AAAA), so clients keep
 * their DRASYL_SUPER_PEERS line when a server is replaced. `provider` says which program manages
 * the records (hcloud: Hetzner DNS through the hcloud stack, route53: the AWS stack's hosted zone,
 * none: the operator publishes them; the names are used all the same).
 */
export const dnsSchema = z.strictObject({
  zone: z
    .string()
    .transform((z) => z.toLowerCase().replace(/\.$/, ""))
    .refine((z) => DOMAIN.test(z), { message: "must be a DNS zone such as example.org" }),
  provider: z.enum(DNS_PROVIDERS),
  /** Relative to the zone; {region}, {server} and {deployment} are replaced per super peer. */
  name: z
    .string()
    .default("sp-{region}")
    .refine(
      (n) =>
        [...n.matchAll(/\{([^}]*)\}/g)].every((m) => (NAME_PLACEHOLDERS as readonly string[]).includes(m[1] ?? "")),
      {
        message: `may use the placeholders ${NAME_PLACEHOLDERS.map((p) => `{${p}}`).join(", ")} only`,
      },
    ),
  ttl: z
    .number()
    .int()
    .min(60, "must be at least 60 seconds")
    .max(86400, "must be at most 86400 seconds (a day)")
    .default(300),
  /** hcloud only: create the zone in the Hetzner project (kept on destroy) instead of looking it up. */
  createZone: z.boolean().default(false),
});

export type DnsConfig = z.infer<typeof dnsSchema>;
