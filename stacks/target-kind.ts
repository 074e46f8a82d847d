import type { z } from "zod";
import type { DnsProgramArgs } from "./dns/program-args.ts";
import type { DnsProvider } from "./dns/schema.ts";
import type { Provider } from "./provider.ts";
import type { PassphrasePrompt } from "./pulumi/preflight.ts";
import type { CloudProfile } from "./pulumi/profile.ts";
import type { DeploymentState } from "./state/state-dir.ts";

/** What a provider gets besides its own target's config. */
export interface ProviderContext {
  state: DeploymentState;
  /** The deployment's drasyl ports: the clouds' firewalls open exactly these. */
  ports: { udp: number; tcp: number };
  /** Asked for the Pulumi passphrase when the environment has none. */
  passphrasePrompt?: PassphrasePrompt;
  /** An exposed metrics endpoint and who may scrape it: the clouds' firewalls open its port to these only. */
  metrics?: { port: number; sources: string[] } | undefined;
  /** For the cloud that manages the deployment's DNS zone: its records, settled when its program runs. */
  dns?: (() => Promise<DnsProgramArgs>) | undefined;
}

/** A server name a target yields, with the field of the target it comes from (for error messages). */
export interface NamedServer {
  name: string;
  /** Its region (location for Hetzner): part of its DNS name. */
  region: string;
  /** The DNS record name the config pins for it (see dnsRecordField). */
  dnsRecord?: string | undefined;
  path: (string | number)[];
}

/**
 * The contract of one target kind (stacks/<kind>/kind.ts); stacks/kinds.ts lists them all, and
 * nothing outside that registry looks at a target's kind.
 */
export interface TargetKind<S extends z.ZodType<{ kind: string }> = z.ZodType<{ kind: string }>> {
  kind: string;
  /** The target's config: its fields, defaults and documentation. */
  schema: S;
  /** The servers a target yields, known before any server exists (identities are made for them first). */
  serverNames(deployment: string, target: z.infer<S>): NamedServer[];
  provider(target: z.infer<S>, ctx: ProviderContext): Provider;
  /** Clouds: credentials, environment, console and Pulumi plugin. */
  profile?: CloudProfile;
  /** The `dns.provider` whose records this kind's stack manages (hcloud: Hetzner DNS, aws: Route 53). */
  dnsProvider?: DnsProvider;
}

/** Ties a kind's functions to its own schema's type. */
export function defineKind<S extends z.ZodType<{ kind: string }>>(kind: TargetKind<S>): TargetKind<S> {
  return kind;
}
