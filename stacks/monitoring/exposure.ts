import { readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { parseListen } from "../../sp-runtime/daemon/config.ts";

/** The environment variable an operator keeps the metrics bearer token in (never in the config file). */
export const METRICS_TOKEN_ENV = "DRASYL_DEPLOY_METRICS_TOKEN";

export class MetricsExposureError extends Error {
  override readonly name = "MetricsExposureError";
}

/** Whether the endpoint is reachable from other machines at all (not disabled, not loopback). */
export function isExposed(listen: string): boolean {
  const addr = parseListen(listen, "any", "superPeer.prometheusListen");
  if (addr === undefined) return false;
  return !(addr.host.startsWith("127.") || addr.host === "::1");
}

export function metricsPort(listen: string): number | undefined {
  return parseListen(listen, "any", "superPeer.prometheusListen")?.port;
}

/**
 * The bearer token for the metrics endpoint: $DRASYL_DEPLOY_METRICS_TOKEN, else the file
 * superPeer.prometheusTokenFile names (which must not be readable by others), else
 * superPeer.prometheusToken, else "".
 */
export function metricsToken(
  sp: { prometheusToken?: string | undefined; prometheusTokenFile?: string | undefined },
  env: NodeJS.ProcessEnv = process.env,
): string {
  const fromEnv = env[METRICS_TOKEN_ENV]?.trim();
  if (fromEnv) return fromEnv;
  const configured = sp.prometheusTokenFile;
  if (!configured) return sp.prometheusToken ?? "";
  const file = configured === "~" || configured.startsWith("~/") ? homedir() + configured.slice(1) : configured;
  let mode: number;
  let token: string;
  try {
    mode = statSync(file).mode;
    token = readFileSync(file, "utf8").trim();
  } catch (e) {
    throw new MetricsExposureError(
      `superPeer.prometheusTokenFile: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  if ((mode & 0o077) !== 0)
    throw new MetricsExposureError(`superPeer.prometheusTokenFile: ${file} is readable by others; chmod 600 ${file}`);
  if (token === "") throw new MetricsExposureError(`superPeer.prometheusTokenFile: ${file} is empty`);
  return token;
}

/**
 * Refuses to install an exposed endpoint without a token: anyone let through the firewall could
 * read every peer's public key and traffic figures off it. A loopback endpoint needs none (only
 * SSH port forwarding reaches it).
 */
export function requireMetricsToken(listen: string, token: string): void {
  if (token === "" && isExposed(listen)) {
    throw new MetricsExposureError(
      `superPeer.prometheusListen ${listen} exposes the metrics endpoint beyond the server: set ${METRICS_TOKEN_ENV} or superPeer.prometheusTokenFile to a bearer token (e.g. openssl rand -base64 32 > metrics-token; chmod 600 metrics-token)`,
    );
  }
}

/** The metrics port the cloud firewalls open, and to whom: only when the endpoint is exposed and scrapers are listed. */
export function metricsFirewall(sp: {
  prometheusListen: string;
  metricsFrom?: string[] | undefined;
}): { port: number; sources: string[] } | undefined {
  const port = metricsPort(sp.prometheusListen);
  if (port === undefined || !isExposed(sp.prometheusListen) || !sp.metricsFrom) return undefined;
  return { port, sources: sp.metricsFrom };
}
