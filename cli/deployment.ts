import { loadDeployConfig } from "./config/load.ts";
import type { DeployConfig } from "./config/schema.ts";
import { resolveSettings, type Settings } from "../stacks/install/settings.ts";
import { providerFor } from "../stacks/kinds.ts";
import type { Provider, Server } from "../stacks/provider.ts";
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

export function settingsFor(config: DeployConfig): Settings {
  return resolveSettings({
    networkId: config.networkId,
    udpPort: config.ports.udp,
    tcpPort: config.ports.tcp,
    arm: config.superPeer.armMessages,
    maxPeers: config.superPeer.maxPeers,
    prometheusListen: config.superPeer.prometheusListen,
    prometheusToken: config.superPeer.prometheusToken,
    logLevel: config.superPeer.logLevel,
  });
}

export function openDeployment(configFile: string | undefined, stateDir: string): Deployment {
  const { config, source } = loadDeployConfig(configFile);
  const state = new StateDir(stateDir).forDeployment(config.deployment);
  const ctx = { state, ports: config.ports, passphrasePrompt: ttyPassphrasePrompt };
  return { config, source, state, providers: config.targets.map((t) => providerFor(t, ctx)), settings: settingsFor(config) };
}

export async function listServers(d: Deployment): Promise<Server[]> {
  return (await Promise.all(d.providers.map((p) => p.list()))).flat();
}
