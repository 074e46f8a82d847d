import { loadDeployConfig } from "./config/load.ts";
import { type DeployConfig, dnsRecordPins } from "./config/schema.ts";
import { resolveSettings, type Settings } from "../stacks/install/settings.ts";
import { dnsManagingKind, providerFor, targetServerNames } from "../stacks/kinds.ts";
import { metricsFirewall, metricsToken } from "../stacks/monitoring/exposure.ts";
import type { Provider, Server } from "../stacks/provider.ts";
import { dnsArgsFor, withDnsNames } from "../stacks/dns/fleet.ts";
import { ttyPassphrasePrompt } from "../stacks/pulumi/preflight.ts";
import { StateDir, type DeploymentState } from "../stacks/state/state-dir.ts";

/** A loaded config with its providers and settings: what every command starts from. */
export interface Deployment {
  config: DeployConfig;
  source: string;
  state: DeploymentState;
  providers: Provider[];
  /** Resolved once, here; everything below takes them as they are. */
  settings: Settings;
}

export function settingsFor(config: DeployConfig, env: NodeJS.ProcessEnv = process.env): Settings {
  return resolveSettings({
    networkId: config.networkId,
    udpPort: config.ports.udp,
    tcpPort: config.ports.tcp,
    arm: config.superPeer.armMessages,
    maxPeers: config.superPeer.maxPeers,
    prometheusListen: config.superPeer.prometheusListen,
    prometheusToken: metricsToken(config.superPeer, env),
    logLevel: config.superPeer.logLevel,
  });
}

export function openDeployment(configFile: string | undefined, stateDir: string): Deployment {
  const { config, source } = loadDeployConfig(configFile);
  return deploymentOf(config, source, new StateDir(stateDir).forDeployment(config.deployment));
}

/**
 * The deployment of a config as loaded or as a command edits it. `unnamed`: servers that get no DNS
 * record (during a move, the server that does not hold the name).
 */
export function deploymentOf(
  config: DeployConfig,
  source: string,
  state: DeploymentState,
  opts: { unnamed?: readonly string[] } = {},
): Deployment {
  const ctx = {
    state,
    ports: config.ports,
    passphrasePrompt: ttyPassphrasePrompt,
    metrics: metricsFirewall(config.superPeer),
  };
  const dns = config.dns;
  const zoneKind = dns ? dnsManagingKind(dns.provider) : undefined;
  const unnamed = new Set(opts.unnamed ?? []);
  const pins = dnsRecordPins(config);
  const providers: Provider[] = config.targets.map((t) => {
    if (!dns || t.kind !== zoneKind) return providerFor(t, ctx);
    // The zone's other servers are read when the program runs, from the other targets' providers
    // (the lab's private addresses stay out of public DNS).
    const others = (): Provider[] =>
      providers.filter((_, i) => config.targets[i] !== t && config.targets[i]?.kind !== "local");
    const own = targetServerNames(config.deployment, t)
      .filter((s) => !unnamed.has(s.name))
      .map((s) => ({ server: s.name, region: s.region, record: s.dnsRecord }));
    return providerFor(t, {
      ...ctx,
      dns: async () => {
        const args = await dnsArgsFor(dns, config.deployment, own, others(), pins);
        return { ...args, foreign: args.foreign.filter((f) => !unnamed.has(f.server)) };
      },
    });
  });
  return { config, source, state, providers, settings: settingsFor(config) };
}

/** The servers as they are now, with the DNS names clients are given when the config has a dns section. */
export async function listServers(d: Deployment): Promise<Server[]> {
  return withDnsNames(
    d.config.dns,
    d.config.deployment,
    (await Promise.all(d.providers.map((p) => p.list()))).flat(),
    dnsRecordPins(d.config),
  );
}
