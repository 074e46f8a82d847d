import { z } from "zod";
import { checkPlaces, cloudFields } from "../config-fields.ts";
import { dnsRecordField } from "../dns/schema.ts";
import {
  checkImage,
  checkLocation,
  checkServerType,
  HCLOUD_DEFAULT_IMAGE,
  HCLOUD_DEFAULT_LOCATIONS,
  hcloudServerSpecs,
} from "./catalog.ts";

const hcloudLocationEntry = z.union([
  z.string(),
  z.strictObject({
    location: z.string(),
    serverType: z.string().optional(),
    image: z.string().optional(),
    dnsRecord: dnsRecordField.optional(),
  }),
]);

/** Hetzner Cloud: one server per location, named `<deployment>-<location>`. */
export const hcloudTargetSchema = z
  .strictObject({
    kind: z.literal("hcloud"),
    locations: z
      .array(hcloudLocationEntry)
      .min(1)
      .max(16)
      .default([...HCLOUD_DEFAULT_LOCATIONS]),
    /** Default: the smallest current shared-CPU type of each location. */
    serverType: z.string().optional(),
    image: z.string().default(HCLOUD_DEFAULT_IMAGE),
    ...cloudFields,
  })
  .superRefine((t, ctx) => {
    checkPlaces(ctx, "locations", "location", t.locations, checkLocation, (entry, location, at) => {
      const spec = hcloudServerSpecs("x", { ...t, locations: [entry] })[0];
      if (!spec) return;
      const typeProblem = checkServerType(location, spec.serverType);
      if (typeProblem) {
        const path =
          typeof entry !== "string" && entry.serverType ? [...at, "serverType"] : t.serverType ? ["serverType"] : at;
        ctx.addIssue({ code: "custom", path, message: typeProblem });
      }
      const imageProblem = checkImage(spec.image);
      if (imageProblem)
        ctx.addIssue({
          code: "custom",
          path: typeof entry !== "string" && entry.image ? [...at, "image"] : ["image"],
          message: imageProblem,
        });
    });
  });

export type HcloudTargetConfig = z.infer<typeof hcloudTargetSchema>;
