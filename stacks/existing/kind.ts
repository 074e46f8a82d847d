import { defineKind } from "../target-kind.ts";
import { existingTargetSchema } from "./config.ts";
import { ExistingProvider } from "./existing-provider.ts";

export const existingKind = defineKind({
  kind: "existing",
  schema: existingTargetSchema,
  serverNames: (_deployment, t) =>
    t.servers.map((s, j) => ({ name: s.name, region: s.region, dnsRecord: s.dnsRecord, path: ["servers", j, "name"] })),
  provider: (t) => new ExistingProvider(t),
});
