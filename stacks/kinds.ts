import { z } from "zod";
import { awsKind } from "./aws/kind.ts";
import { existingKind } from "./existing/kind.ts";
import { hcloudKind } from "./hcloud/kind.ts";
import { localKind } from "./local/kind.ts";
import type { Provider } from "./provider.ts";
import type { NamedServer, ProviderContext, TargetKind } from "./target-kind.ts";

/** Every target kind drasyl-deploy knows. Adding one: its folder (stacks/README.md) and one entry here. */
const KINDS = [localKind, existingKind, hcloudKind, awsKind] as const;

type SchemasOf<T extends readonly unknown[]> = {
  -readonly [K in keyof T]: T[K] extends TargetKind<infer S> ? S : never;
};
type Schemas = SchemasOf<typeof KINDS>;

/** One entry of `targets:` in the config. */
export const targetSchema = z.discriminatedUnion("kind", KINDS.map((k) => k.schema) as unknown as Schemas);

export type TargetConfig = z.infer<typeof targetSchema>;

function kindOf(target: TargetConfig): TargetKind<z.ZodType<TargetConfig>> {
  // The schema admitted `target` by its kind, so the kind with that name takes it.
  return KINDS.find((k) => k.kind === target.kind) as unknown as TargetKind<z.ZodType<TargetConfig>>;
}

export function targetServerNames(deployment: string, target: TargetConfig): NamedServer[] {
  return kindOf(target).serverNames(deployment, target);
}

export function providerFor(target: TargetConfig, ctx: ProviderContext): Provider {
  return kindOf(target).provider(target, ctx);
}

/** Whether the target's servers sit behind a firewall drasyl-deploy manages (the clouds). */
export function hasManagedFirewall(target: TargetConfig): boolean {
  return kindOf(target).profile !== undefined;
}

/** The kind whose stack manages the records of a `dns.provider`; undefined for "none". */
export function dnsManagingKind(provider: string): string | undefined {
  return KINDS.find((k) => "dnsProvider" in k && k.dnsProvider === provider)?.kind;
}
