import { z } from "zod";
import { nameField } from "../config-fields.ts";

/** Lab servers on this machine (root, systemd-nspawn), one per region. */
export const localTargetSchema = z.strictObject({
  kind: z.literal("local"),
  /** One lab host each, named `<deployment>-<region>`. */
  regions: z.array(nameField("a region")).min(1).max(16),
  /** "deploy" is a user with passwordless sudo, as on many real servers. */
  sshUser: z.enum(["root", "deploy"]).default("root"),
});

export type LocalTargetConfig = z.infer<typeof localTargetSchema>;
