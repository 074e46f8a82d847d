import { isIP } from "node:net";
import { z } from "zod";

/**
 * Field types the target kinds' config schemas share. Pure zod, so a config is checked before any
 * credentials or network are involved; messages say what is expected.
 */
const NAME = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;

export const nameField = (what: string) =>
  z
    .string()
    .regex(NAME, `${what} must be 1-32 characters of a-z, 0-9 and '-', starting and ending with a letter or digit`);

export const portField = z.number().int().min(1).max(65535);

const DNS_NAME =
  /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)*[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;

export const hostnameField = z
  .string()
  .min(1)
  .refine((h) => isIP(h) !== 0 || DNS_NAME.test(h), { message: "must be an IP address or a DNS name" });

export const unixUserField = z.string().regex(/^[a-z_][a-z0-9_-]*$/, "must be a Unix user name");

/** An IPv4 or IPv6 network in CIDR notation, e.g. 203.0.113.7/32 or 2001:db8::/48. */
export const cidrField = z.string().refine(
  (v) => {
    const [addr, len, extra] = v.split("/");
    const family = isIP(addr ?? "");
    if (extra !== undefined || family === 0 || !/^\d{1,3}$/.test(len ?? "")) return false;
    return Number(len) <= (family === 4 ? 32 : 128);
  },
  { message: "must be an IPv4 or IPv6 network in CIDR notation, e.g. 203.0.113.7/32 or 2001:db8::/48" },
);

/** A config field's path as a user writes it: `targets[0].servers[1].name`. */
export function formatFieldPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : out === "" ? String(p) : `.${String(p)}`;
  return out || "(top level)";
}

/** The fields every cloud target shares. */
export const cloudFields = {
  /** The user cloud-init creates with the deployment's SSH key and passwordless sudo; "root" logs in as root. */
  sshUser: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]{0,31}$/, "must be a Unix user name")
    .refine((u) => u !== "drasyl-sp", {
      message: "drasyl-sp is the super peer's own service user; pick another login user",
    })
    .default("drasyl-deploy"),
  /** Who may connect to SSH; default: this machine's current public address. */
  allowSsh: z.array(cidrField).min(1).optional(),
  /** Pulumi state backend URL (file://, s3://, https://api.pulumi.com, ...); default file://<state dir>/pulumi. */
  backend: z
    .string()
    .regex(
      /^[a-z][a-z0-9+.-]*:\/\//,
      "must be a Pulumi backend URL such as file:///path, s3://bucket or https://api.pulumi.com",
    )
    .optional(),
};

/**
 * A cloud target's list of places (`regions:`, `locations:`): each entry a name or an object with
 * the name under `key`. Every name is checked and may appear once (one server per place); `each`
 * checks the rest of an entry, given the path of the entry.
 */
export function checkPlaces<E extends string | Record<string, unknown>>(
  ctx: z.core.$RefinementCtx,
  field: string,
  key: string,
  entries: E[],
  check: (name: string) => string | undefined,
  each: (entry: E, name: string, at: (string | number)[]) => void = () => {},
): void {
  const seen = new Set<string>();
  entries.forEach((entry, i) => {
    const name = typeof entry === "string" ? entry : String(entry[key]);
    const at = typeof entry === "string" ? [field, i] : [field, i, key];
    const bad = check(name);
    if (bad) ctx.addIssue({ code: "custom", path: at, message: bad });
    else if (seen.has(name))
      ctx.addIssue({ code: "custom", path: at, message: `${key} ${name} is listed twice (one server per ${key})` });
    seen.add(name);
    each(entry, name, [field, i]);
  });
}
