import { defineKind } from "../target-kind.ts";
import { localTargetSchema } from "./config.ts";
import { LocalProvider } from "./local-provider.ts";

export const localKind = defineKind({
  kind: "local",
  schema: localTargetSchema,
  serverNames: (deployment, t) =>
    t.regions.map((r, j) => ({ name: `${deployment}-${r}`, region: r, path: ["regions", j] })),
  provider: (t, ctx) => new LocalProvider({ state: ctx.state, regions: t.regions, sshUser: t.sshUser }),
});
