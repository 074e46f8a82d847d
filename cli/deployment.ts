import { loadDeployConfig } from "./config/load.ts";
import type { DeployConfig } from "./config/schema.ts";
import { providersFor, settingsFor } from "./providers.ts";
import { resolveSettings, type Settings } from "../stacks/install/settings.ts";
import type { Provider, Server } from "../stacks/provider.ts";
import { withDnsNames } from "../stacks/dns/fleet.ts";

/** A loaded config with its providers: what every command starts from. */
export interface Deployment {
  config: DeployConfig;
  source: string;
  stateDir: string;
  providers: Provider[];
  settings: Settings;
}

export function openDeployment(configFile: string | undefined, stateDir: string): Deployment {
  const { config, source } = loadDeployConfig(configFile);
  return { config, source, stateDir, providers: providersFor(config, stateDir), settings: resolveSettings(settingsFor(config)) };
}

/** The servers as they are now, with the DNS names clients are given when the config has a dns section. */
export async function listServers(d: Deployment): Promise<Server[]> {
  return withDnsNames(d.config.dns, d.config.deployment, (await Promise.all(d.providers.map((p) => p.list()))).flat());
}
