import { type DeployConfig, targetServers } from "./config/schema.ts";
import { dnsProgramArgs } from "../stacks/dns/fleet.ts";
import type { DnsProgramArgs } from "../stacks/dns/program-args.ts";
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
  const providers: Provider[] = config.targets.map((t) => {
    switch (t.kind) {
      case "local":
        return new LocalProvider({ deployment: config.deployment, regions: t.regions, stateDir, sshUser: t.sshUser });
      case "existing":
        return new ExistingProvider(t);
      case "hcloud":
      case "aws": {
        const dns = dnsManagedBy(config, t.kind) ? { dns: () => dnsArgsFor(config, t, providers) } : {};
        const cloud = { deployment: config.deployment, stateDir, ports: config.ports, metrics: metricsFirewall(config), passphrasePrompt: ttyPassphrasePrompt, ...dns };
        return t.kind === "hcloud" ? new HcloudProvider({ ...cloud, target: t }) : new AwsProvider({ ...cloud, target: t });
      }
    }
  });
  return providers;
}

function dnsManagedBy(config: DeployConfig, kind: "hcloud" | "aws"): boolean {
  return (config.dns?.provider === "hcloud" && kind === "hcloud") || (config.dns?.provider === "route53" && kind === "aws");
}

/** The zone's records as the managing cloud's program needs them; the other targets' servers as they are now. */
export async function dnsArgsFor(config: DeployConfig, target: DeployConfig["targets"][number], providers: Provider[]): Promise<DnsProgramArgs> {
  const dns = config.dns as NonNullable<DeployConfig["dns"]>;
  const others = config.targets.flatMap((t, i) => (t === target || t.kind === "local" ? [] : [providers[i] as Provider]));
  const servers = (await Promise.all(others.map((p) => p.list()))).flat();
  return dnsProgramArgs(dns, config.deployment, targetServers(config.deployment, target), servers);
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
