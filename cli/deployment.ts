import { loadDeployConfig } from "./config/load.ts";
import type { DeployConfig } from "./config/schema.ts";
import { providersFor, settingsFor } from "./providers.ts";
import { resolveSettings, type Settings } from "../stacks/install/settings.ts";
import type { Provider, Server } from "../stacks/provider.ts";

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

export async function listServers(d: Deployment): Promise<Server[]> {
  return (await Promise.all(d.providers.map((p) => p.list()))).flat();
}
