import type { DeployConfig } from "./config/schema.ts";
import { AwsProvider } from "../stacks/aws/aws-provider.ts";
import { ExistingProvider } from "../stacks/existing/existing-provider.ts";
import { HcloudProvider } from "../stacks/hcloud/hcloud-provider.ts";
import { LocalProvider } from "../stacks/local/local-provider.ts";
import { ttyPassphrasePrompt } from "../stacks/pulumi/preflight.ts";
import type { Provider } from "../stacks/provider.ts";
import type { Settings } from "../stacks/install/settings.ts";
import { isExposed, metricsPort, metricsToken } from "../stacks/monitoring/exposure.ts";

/** One provider per target of the config; the commands never look at a target's kind again. */
export function providersFor(config: DeployConfig, stateDir: string): Provider[] {
  return config.targets.map((t) => {
    switch (t.kind) {
      case "local":
        return new LocalProvider({ deployment: config.deployment, regions: t.regions, stateDir, sshUser: t.sshUser });
      case "existing":
        return new ExistingProvider(t);
      case "hcloud":
      case "aws": {
        const cloud = { deployment: config.deployment, stateDir, ports: config.ports, metrics: metricsFirewall(config), passphrasePrompt: ttyPassphrasePrompt };
        return t.kind === "hcloud" ? new HcloudProvider({ ...cloud, target: t }) : new AwsProvider({ ...cloud, target: t });
      }
    }
  });
}

/** The metrics port the cloud firewalls open, and to whom: only when the endpoint is exposed and scrapers are listed. */
export function metricsFirewall(config: DeployConfig): { port: number; sources: string[] } | undefined {
  const { prometheusListen, metricsFrom } = config.superPeer;
  const port = metricsPort(prometheusListen);
  if (port === undefined || !isExposed(prometheusListen) || !metricsFrom) return undefined;
  return { port, sources: metricsFrom };
}

export function settingsFor(config: DeployConfig, env: NodeJS.ProcessEnv = process.env): Partial<Settings> {
  return {
    networkId: config.networkId,
    udpPort: config.ports.udp,
    tcpPort: config.ports.tcp,
    arm: config.superPeer.armMessages,
    maxPeers: config.superPeer.maxPeers,
    prometheusListen: config.superPeer.prometheusListen,
    prometheusToken: metricsToken(config.superPeer, env),
    logLevel: config.superPeer.logLevel,
  };
}
