import { defineKind } from "../target-kind.ts";
import { AwsProvider } from "./aws-provider.ts";
import { awsServerSpecs } from "./catalog.ts";
import { awsTargetSchema } from "./config.ts";
import { AWS_PROFILE } from "./profile.ts";

export const awsKind = defineKind({
  kind: "aws",
  schema: awsTargetSchema,
  serverNames: (deployment, t) =>
    awsServerSpecs(deployment, t).map((s, j) => {
      const entry = t.regions[j];
      return {
        name: s.name,
        region: s.region,
        dnsRecord: typeof entry === "object" ? entry.dnsRecord : undefined,
        path: ["regions", j],
      };
    }),
  provider: (t, ctx) => new AwsProvider({ ...ctx, target: t }),
  profile: AWS_PROFILE,
  dnsProvider: "route53",
});
