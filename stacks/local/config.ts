import { z } from "zod";
import { nameField } from "../config-fields.ts";
import { dnsRecordField } from "../dns/schema.ts";

/** Lab servers on this machine (root, systemd-nspawn), one per region. */
export const localTargetSchema = z.strictObject({
  kind: z.literal("local"),
  /** One lab host each, named `<deployment>-<region>`. */
  regions: z
    .array(
      z.union([
        nameField("a region"),
        z.strictObject({ region: nameField("a region"), dnsRecord: dnsRecordField.optional() }),
      ]),
    )
    .min(1)
    .max(16),
  /** "deploy" is a user with passwordless sudo, as on many real servers. */
  sshUser: z.enum(["root", "deploy"]).default("root"),
});

export type LocalTargetConfig = z.infer<typeof localTargetSchema>;

/** The region of one entry of a local target's regions. */
export function localRegion(entry: LocalTargetConfig["regions"][number]): string {
  return typeof entry === "string" ? entry : entry.region;
}
