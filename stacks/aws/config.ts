import { z } from "zod";
import { checkPlaces, cloudFields } from "../config-fields.ts";
import { dnsRecordField } from "../dns/schema.ts";
import { AWS_DEFAULT_IMAGE, AWS_DEFAULT_REGIONS, checkAwsImage, checkInstanceType, checkRegion } from "./catalog.ts";

const awsRegionEntry = z.union([
  z.string(),
  z.strictObject({ region: z.string(), instanceType: z.string().optional(), dnsRecord: dnsRecordField.optional() }),
]);

/** AWS EC2: one instance per region, named `<deployment>-<region>`. */
export const awsTargetSchema = z
  .strictObject({
    kind: z.literal("aws"),
    regions: z
      .array(awsRegionEntry)
      .min(1)
      .max(16)
      .default([...AWS_DEFAULT_REGIONS]),
    /** Default t3.micro; Graviton types (t4g, m7g, ...) make arm64 servers. */
    instanceType: z.string().optional(),
    image: z.string().default(AWS_DEFAULT_IMAGE),
    ...cloudFields,
  })
  .superRefine((t, ctx) => {
    checkPlaces(ctx, "regions", "region", t.regions, checkRegion, (entry, _region, at) => {
      const own = typeof entry === "string" ? undefined : entry.instanceType;
      const type = own ?? t.instanceType;
      const typeProblem = type === undefined ? undefined : checkInstanceType(type);
      if (typeProblem)
        ctx.addIssue({ code: "custom", path: own ? [...at, "instanceType"] : ["instanceType"], message: typeProblem });
    });
    const imageProblem = checkAwsImage(t.image);
    if (imageProblem) ctx.addIssue({ code: "custom", path: ["image"], message: imageProblem });
  });

export type AwsTargetConfig = z.infer<typeof awsTargetSchema>;
