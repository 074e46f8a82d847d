import { defineKind } from "../target-kind.ts";
import { hcloudServerSpecs } from "./catalog.ts";
import { hcloudTargetSchema } from "./config.ts";
import { HcloudProvider } from "./hcloud-provider.ts";
import { HCLOUD_PROFILE } from "./profile.ts";

export const hcloudKind = defineKind({
  kind: "hcloud",
  schema: hcloudTargetSchema,
  serverNames: (deployment, t) =>
    hcloudServerSpecs(deployment, t).map((s, j) => {
      const entry = t.locations[j];
      return {
        name: s.name,
        region: s.location,
        dnsRecord: typeof entry === "object" ? entry.dnsRecord : undefined,
        path: ["locations", j],
      };
    }),
  provider: (t, ctx) => new HcloudProvider({ ...ctx, target: t }),
  profile: HCLOUD_PROFILE,
  dnsProvider: "hcloud",
});
