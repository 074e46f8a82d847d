import { loadDeployConfig } from "./config/load.ts";
import type { DeployConfig } from "./config/schema.ts";
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
  const state = new StateDir(stateDir).forDeployment(config.deployment);
  const ctx = {
    state,
    ports: config.ports,
    passphrasePrompt: ttyPassphrasePrompt,
    metrics: metricsFirewall(config.superPeer),
  };
  const dns = config.dns;
  const zoneKind = dns ? dnsManagingKind(dns.provider) : undefined;
  const providers: Provider[] = config.targets.map((t) => {
    if (!dns || t.kind !== zoneKind) return providerFor(t, ctx);
    // The zone's other servers are read when the program runs, from the other targets' providers
    // (the lab's private addresses stay out of public DNS).
    const others = (): Provider[] =>
      providers.filter((_, i) => config.targets[i] !== t && config.targets[i]?.kind !== "local");
    const own = targetServerNames(config.deployment, t).map((s) => ({ server: s.name, region: s.region }));
    return providerFor(t, { ...ctx, dns: () => dnsArgsFor(dns, config.deployment, own, others()) });
  });
  return { config, source, state, providers, settings: settingsFor(config) };
}

/** The servers as they are now, with the DNS names clients are given when the config has a dns section. */
export async function listServers(d: Deployment): Promise<Server[]> {
  return withDnsNames(d.config.dns, d.config.deployment, (await Promise.all(d.providers.map((p) => p.list()))).flat());
}
