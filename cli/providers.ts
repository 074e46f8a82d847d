import type { DeployConfig } from "./config/schema.ts";
import { ExistingProvider } from "../stacks/existing/existing-provider.ts";
import { LocalProvider } from "../stacks/local/local-provider.ts";
import type { Provider } from "../stacks/provider.ts";
import type { Settings } from "../stacks/install/settings.ts";

/** One provider per target of the config; the commands never look at a target's kind again. */
export function providersFor(config: DeployConfig, stateDir: string): Provider[] {
  return config.targets.map((t) =>
    t.kind === "local"
      ? new LocalProvider({ deployment: config.deployment, regions: t.regions, stateDir, sshUser: t.sshUser })
      : new ExistingProvider(t),
  );
}

export function settingsFor(config: DeployConfig): Partial<Settings> {
  return {
    networkId: config.networkId,
    udpPort: config.ports.udp,
    tcpPort: config.ports.tcp,
    arm: config.superPeer.armMessages,
    maxPeers: config.superPeer.maxPeers,
    prometheusListen: config.superPeer.prometheusListen,
    logLevel: config.superPeer.logLevel,
  };
}
