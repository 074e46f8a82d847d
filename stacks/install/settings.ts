import { ConfigError, LOG_LEVELS, type LogLevel, parseListen } from "../../sp-runtime/daemon/config.ts";

/** The deployment-wide knobs of a super peer; everything else follows from the layout. */
export interface Settings {
  networkId: number;
  udpPort: number;
  /** TCP fallback; 443 gets through most firewalls, which is why the unit grants CAP_NET_BIND_SERVICE. */
  tcpPort: number;
  /** Encrypt control messages (DRASYL_ARM_MESSAGES). */
  arm: boolean;
  /** 0 = unlimited. */
  maxPeers: number;
  /** ip:port of the /metrics endpoint, "" disables it. */
  prometheusListen: string;
  /** Bearer token for /metrics, "" for none. A secret: never printed. */
  prometheusToken: string;
  logLevel: LogLevel;
  /** ms between peers tables on stdout (the journal); 0 disables them. */
  peersPrintInterval: number;
}

export const DEFAULT_SETTINGS: Readonly<Settings> = {
  networkId: 1,
  udpPort: 22527,
  tcpPort: 443,
  arm: true,
  maxPeers: 8192,
  prometheusListen: "127.0.0.1:9898",
  prometheusToken: "",
  logLevel: "info",
  peersPrintInterval: 5000,
};

export class SettingsError extends Error {
  override readonly name = "SettingsError";
}

// The token goes into an EnvironmentFile line; this alphabet needs no quoting there and cannot end the line.
export const TOKEN_ALPHABET = /^[A-Za-z0-9._~+/=-]*$/;

function port(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 1 || value > 65535)
    throw new SettingsError(`${what} must be a port number 1-65535, got ${value}`);
}

/** Why `value` cannot be the daemon's DRASYL_PROMETHEUS_LISTEN (ip:port, or "" to disable), or undefined. */
export function prometheusListenProblem(value: string): string | undefined {
  try {
    parseListen(value, "any", "prometheusListen");
    return undefined;
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
}

/** Defaults filled in and the values checked that the templates cannot check themselves. */
export function resolveSettings(partial: Partial<Settings> = {}): Settings {
  const s: Settings = { ...DEFAULT_SETTINGS, ...partial };
  port(s.udpPort, "udpPort");
  port(s.tcpPort, "tcpPort");
  if (!Number.isInteger(s.maxPeers) || s.maxPeers < 0)
    throw new SettingsError(`maxPeers must be an integer >= 0 (0 = unlimited), got ${s.maxPeers}`);
  const listen = prometheusListenProblem(s.prometheusListen);
  if (listen) throw new SettingsError(listen);
  if (!LOG_LEVELS.includes(s.logLevel))
    throw new SettingsError(`logLevel must be one of ${LOG_LEVELS.join("|")}, got "${s.logLevel}"`);
  if (!TOKEN_ALPHABET.test(s.prometheusToken)) {
    // Deliberately without the value: it is a secret.
    throw new SettingsError("prometheusToken may only contain A-Z a-z 0-9 . _ ~ + / = -");
  }
  return s;
}
