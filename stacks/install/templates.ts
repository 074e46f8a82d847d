import { readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../package-files.ts";
import { ConfigError, loadConfig } from "../../sp-runtime/daemon/config.ts";
import { CURRENT_LINK, ENV_FILE, IDENTITY_FILE, SERVICE_USER } from "./layout.ts";
import type { Settings } from "./settings.ts";

export class TemplateError extends Error {
  override readonly name = "TemplateError";
}

export type TemplateName = "drasyl-sp.service" | "drasyl-sp.env";

const cache = new Map<TemplateName, string>();

export function readTemplate(name: TemplateName): string {
  let text = cache.get(name);
  if (text === undefined) {
    text = readFileSync(join(packageRoot(), "templates", name), "utf8");
    cache.set(name, text);
  }
  return text;
}

/**
 * `{{name}}` substitution, strict both ways: a placeholder without a value and a value without a
 * placeholder are errors (a typo must not ship a unit with a literal "{{udpPort}}"), and no value
 * may contain a control character (a newline would inject a directive).
 */
export function renderTemplate(
  template: string,
  vars: Record<string, string | number | boolean>,
  name = "template",
): string {
  const used = new Set<string>();
  const out = template.replace(/\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g, (_, key: string) => {
    if (!Object.hasOwn(vars, key)) throw new TemplateError(`${name}: no value for {{${key}}}`);
    const value = String(vars[key]);
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(value))
      throw new TemplateError(`${name}: the value for {{${key}}} contains a control character`);
    used.add(key);
    return value;
  });
  const unused = Object.keys(vars).filter((k) => !used.has(k));
  if (unused.length > 0) throw new TemplateError(`${name}: values without a placeholder: ${unused.join(", ")}`);
  return out;
}

/** Headroom above one descriptor per TCP peer for the UDP sockets, metrics and Node's own. */
export function limitNofile(maxPeers: number): number {
  const ceiling = 1_048_576;
  return maxPeers === 0 ? ceiling : Math.min(ceiling, Math.max(65_536, maxPeers + 1024));
}

/** Parses the Environment= lines of a unit and the KEY=value lines of an env file we rendered. */
export function environmentOf(unit: string, envFile: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const m of unit.matchAll(/^Environment="([A-Z0-9_]+)=(.*)"$/gm)) env[m[1] as string] = m[2] as string;
  for (const m of envFile.matchAll(/^([A-Z0-9_]+)=(.*)$/gm)) env[m[1] as string] = m[2] as string;
  return env;
}

export interface ServiceFiles {
  unit: string;
  /** Holds the metrics token when one is set: treat as a secret. */
  env: string;
}

/**
 * The unit and env file for these settings, checked by the daemon's own config loader on exactly
 * the variables they set: a value drasyl-sp would refuse at startup is refused before any upload.
 */
export function renderServiceFiles(s: Settings): ServiceFiles {
  const unit = renderTemplate(
    readTemplate("drasyl-sp.service"),
    {
      user: SERVICE_USER,
      currentDir: CURRENT_LINK,
      identityFile: IDENTITY_FILE,
      envFile: ENV_FILE,
      udp4Listen: `0.0.0.0:${s.udpPort}`,
      udp6Listen: `[::]:${s.udpPort}`,
      tcp4Listen: `0.0.0.0:${s.tcpPort}`,
      tcp6Listen: `[::]:${s.tcpPort}`,
      logLevel: s.logLevel,
      limitNofile: limitNofile(s.maxPeers),
    },
    "drasyl-sp.service",
  );
  const env = renderTemplate(
    readTemplate("drasyl-sp.env"),
    {
      networkId: s.networkId,
      arm: s.arm,
      maxPeers: s.maxPeers,
      peersPrintInterval: s.peersPrintInterval,
      prometheusListen: s.prometheusListen,
      prometheusToken: s.prometheusToken,
    },
    "drasyl-sp.env",
  );
  try {
    loadConfig(environmentOf(unit, env));
  } catch (e) {
    // loadConfig never echoes DRASYL_PROMETHEUS_TOKEN, so its message is safe to pass on.
    if (e instanceof ConfigError) throw new TemplateError(`the settings would stop drasyl-sp at startup: ${e.message}`);
    throw e;
  }
  return { unit, env };
}
