import { defineKind } from "../target-kind.ts";
import { localRegion, localTargetSchema } from "./config.ts";
import { LocalProvider } from "./local-provider.ts";

export const localKind = defineKind({
  kind: "local",
  schema: localTargetSchema,
  serverNames: (deployment, t) =>
    t.regions.map((r, j) => ({
      name: `${deployment}-${localRegion(r)}`,
      region: localRegion(r),
      dnsRecord: typeof r === "string" ? undefined : r.dnsRecord,
      path: ["regions", j],
    })),
  provider: (t, ctx) =>
    new LocalProvider({ state: ctx.state, regions: t.regions.map(localRegion), sshUser: t.sshUser }),
});
