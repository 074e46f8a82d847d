import { type DeployConfig, targetServers } from "./config/schema.ts";
import { dnsArgsFor, dnsManagedBy } from "../stacks/dns/fleet.ts";
import { AwsProvider } from "../stacks/aws/aws-provider.ts";
import { ExistingProvider } from "../stacks/existing/existing-provider.ts";
import { HcloudProvider } from "../stacks/hcloud/hcloud-provider.ts";
import { LocalProvider } from "../stacks/local/local-provider.ts";
import { ttyPassphrasePrompt } from "../stacks/pulumi/preflight.ts";
import type { Provider } from "../stacks/provider.ts";
import type { Settings } from "../stacks/install/settings.ts";
import { metricsFirewall, metricsToken } from "../stacks/monitoring/exposure.ts";

/** One provider per target of the config; the commands never look at a target's kind again. */
export function providersFor(config: DeployConfig, stateDir: string): Provider[] {
  const providers: Provider[] = config.targets.map((t) => {
    switch (t.kind) {
      case "local":
        return new LocalProvider({ deployment: config.deployment, regions: t.regions, stateDir, sshUser: t.sshUser });
      case "existing":
        return new ExistingProvider(t);
      case "hcloud":
      case "aws": {
        // The zone's other servers are read when the program runs: the other targets' providers exist by then.
        const others = (): Provider[] => providers.filter((_, i) => config.targets[i] !== t && config.targets[i]?.kind !== "local");
        const dns = config.dns && dnsManagedBy(config.dns, t.kind) ? { dns: () => dnsArgsFor(config.dns!, config.deployment, targetServers(config.deployment, t), others()) } : {};
        const cloud = { deployment: config.deployment, stateDir, ports: config.ports, metrics: metricsFirewall(config.superPeer), passphrasePrompt: ttyPassphrasePrompt, ...dns };
        return t.kind === "hcloud" ? new HcloudProvider({ ...cloud, target: t }) : new AwsProvider({ ...cloud, target: t });
      }
    }
  });
  return providers;
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
