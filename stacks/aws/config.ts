import { z } from "zod";
import { cloudFields } from "../config-fields.ts";
import { AWS_DEFAULT_IMAGE, AWS_DEFAULT_REGIONS, checkAwsImage, checkInstanceType, checkRegion } from "./catalog.ts";

const awsRegionEntry = z.union([z.string(), z.strictObject({ region: z.string(), instanceType: z.string().optional() })]);

/** AWS EC2: one instance per region, named `<deployment>-<region>`. */
export const awsTargetSchema = z
  .strictObject({
    kind: z.literal("aws"),
    regions: z.array(awsRegionEntry).min(1).max(16).default([...AWS_DEFAULT_REGIONS]),
    /** Default t3.micro; Graviton types (t4g, m7g, ...) make arm64 servers. */
    instanceType: z.string().optional(),
    image: z.string().default(AWS_DEFAULT_IMAGE),
    ...cloudFields,
  })
  .superRefine((t, ctx) => {
    const seen = new Set<string>();
    t.regions.forEach((entry, i) => {
      const e = typeof entry === "string" ? { region: entry } : entry;
      const at = typeof entry === "string" ? ["regions", i] : ["regions", i, "region"];
      const bad = checkRegion(e.region);
      if (bad) ctx.addIssue({ code: "custom", path: at, message: bad });
      else if (seen.has(e.region)) ctx.addIssue({ code: "custom", path: at, message: `region ${e.region} is listed twice (one server per region)` });
      seen.add(e.region);
      const type = e.instanceType ?? t.instanceType;
      const typeProblem = type === undefined ? undefined : checkInstanceType(type);
      if (typeProblem) ctx.addIssue({ code: "custom", path: e.instanceType ? ["regions", i, "instanceType"] : ["instanceType"], message: typeProblem });
    });
    const imageProblem = checkAwsImage(t.image);
    if (imageProblem) ctx.addIssue({ code: "custom", path: ["image"], message: imageProblem });
  });

export type AwsTargetConfig = z.infer<typeof awsTargetSchema>;
