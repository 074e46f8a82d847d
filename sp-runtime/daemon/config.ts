import { isIP } from "node:net";
import { MAX_TCP_FRAME } from "../wire/constants.ts";

/** The peer table is allocated up front (pages are committed as peers arrive): ~1.3 GB of address space at this size. */
export const MAX_PEERS_LIMIT = 4_194_304;

export const LOG_LEVELS = ["error", "warn", "info", "debug", "trace"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface ListenAddress {
  host: string;
  port: number;
}

/** The Rust super peer's options (protocol.md s5.5) plus our robustness limits. Times in ms. */
export interface SuperPeerConfig {
  identityFile: string;
  identityRequired: boolean;
  networkId: number;
  udp4Listen?: ListenAddress;
  udp6Listen?: ListenAddress;
  tcp4Listen?: ListenAddress;
  tcp6Listen?: ListenAddress;
  armMessages: boolean;
  sendUnites: number;
  /** 0 = unlimited. */
  maxPeers: number;
  minPowDifficulty: number;
  helloTimeout: number;
  helloMaxAge: number;
  peersPrintInterval: number;
  prometheusListen?: ListenAddress;
  prometheusToken: string;
  logLevel: LogLevel;
  housekeepingInterval: number;
  /** Largest TCP frame we process; larger ones are skipped, not buffered. Defaults to what the u16 length allows, as Rust. */
  tcpMaxFrame: number;
  /** Bytes queued for one slow TCP reader before we drop instead of buffering more. */
  tcpMaxBuffered: number;
  /** UDP worker threads; 0 = one per CPU the process may use. */
  workers: number;
}

/** Names the variable and the accepted form, so a typo in a unit file stops startup visibly. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

type Env = Record<string, string | undefined>;

function read(env: Env, key: string): string | undefined {
  const v = env[`DRASYL_${key}`];
  return v === undefined ? undefined : v.trim();
}

function integer(env: Env, key: string, dflt: number, min: number, max: number): number {
  const raw = read(env, key);
  if (raw === undefined || raw === "") return dflt;
  if (!/^[+-]?\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `between ${min} and ${max}`;
    throw new ConfigError(
      `DRASYL_${key}="${raw}" is not an integer ${range}${key === "MAX_PEERS" ? " (0 = unlimited)" : ""}`,
    );
  }
  return Number(raw);
}

function bool(env: Env, key: string, dflt: boolean): boolean {
  const raw = read(env, key);
  if (raw === undefined || raw === "") return dflt;
  if (raw === "true") return true;
  if (raw === "false") return false;
  throw new ConfigError(`DRASYL_${key}="${raw}" must be "true" or "false"`);
}

/** "" disables the listener, like Rust; anything else must be ip:port of the given family. */
export function parseListen(value: string, family: 4 | 6 | "any", what: string): ListenAddress | undefined {
  if (value === "") return undefined;
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(value) ?? /^([^:[\]]+):(\d+)$/.exec(value);
  const host = m?.[1];
  const port = Number(m?.[2]);
  const ipFamily = host === undefined ? 0 : isIP(host);
  if (!m || !host || ipFamily === 0 || port > 65535 || (family !== "any" && ipFamily !== family)) {
    const example = family === 6 ? "[::]:22527" : family === 4 ? "0.0.0.0:22527" : "127.0.0.1:9898";
    throw new ConfigError(
      `${what}="${value}" is not a valid ${family === "any" ? "" : `IPv${family} `}address:port (e.g. ${example}; "" disables it)`,
    );
  }
  return { host, port };
}

function listen(env: Env, key: string, dflt: string, family: 4 | 6 | "any"): ListenAddress | undefined {
  return parseListen(read(env, key) ?? dflt, family, `DRASYL_${key}`);
}

/** RUST_LOG style: a bare level, or directives like "drasyl_sp=debug,info" (the most verbose wins). */
export function parseLogLevel(raw: string | undefined, variable: string): LogLevel {
  if (raw === undefined || raw.trim() === "") return "info";
  let best = -1;
  for (const directive of raw.split(",")) {
    const level = directive.includes("=") ? directive.slice(directive.indexOf("=") + 1) : directive;
    const i = LOG_LEVELS.indexOf(level.trim().toLowerCase() as LogLevel);
    if (i < 0) throw new ConfigError(`${variable}="${raw}": "${level.trim()}" is not one of ${LOG_LEVELS.join("|")}`);
    best = Math.max(best, i);
  }
  return LOG_LEVELS[best] ?? "info";
}

export function loadConfig(env: Env = process.env): SuperPeerConfig {
  const logVar = env.DRASYL_LOG_LEVEL !== undefined ? "DRASYL_LOG_LEVEL" : "RUST_LOG";
  const config: SuperPeerConfig = {
    identityFile: read(env, "IDENTITY_FILE") || "drasyl.identity",
    identityRequired: bool(env, "IDENTITY_REQUIRED", false),
    networkId: integer(env, "NETWORK_ID", 1, -0x80000000, 0x7fffffff),
    udp4Listen: listen(env, "UDP4_LISTEN", "0.0.0.0:22527", 4),
    udp6Listen: listen(env, "UDP6_LISTEN", "[::]:22527", 6),
    tcp4Listen: listen(env, "TCP4_LISTEN", "0.0.0.0:8443", 4),
    tcp6Listen: listen(env, "TCP6_LISTEN", "[::]:8443", 6),
    armMessages: bool(env, "ARM_MESSAGES", true),
    sendUnites: integer(env, "SEND_UNITES", 5000, -0x80000000, 0x7fffffff),
    // The peer table is allocated for MAX_PEERS up front (shared by the worker threads), hence a bound.
    maxPeers: integer(env, "MAX_PEERS", 8192, 0, MAX_PEERS_LIMIT),
    minPowDifficulty: integer(env, "MIN_POW_DIFFICULTY", 24, 0, 255),
    helloTimeout: integer(env, "HELLO_TIMEOUT", 30000, 1, Number.MAX_SAFE_INTEGER),
    helloMaxAge: integer(env, "HELLO_MAX_AGE", 300000, 1, Number.MAX_SAFE_INTEGER),
    peersPrintInterval: integer(env, "PEERS_PRINT_INTERVAL", 5000, 0, 0xffffffff),
    prometheusListen: listen(env, "PROMETHEUS_LISTEN", "127.0.0.1:9898", "any"),
    prometheusToken: read(env, "PROMETHEUS_TOKEN") ?? "",
    logLevel: parseLogLevel(env[logVar], logVar),
    housekeepingInterval: integer(env, "HOUSEKEEPING_INTERVAL", 5000, 10, 3_600_000),
    tcpMaxFrame: integer(env, "TCP_MAX_FRAME", MAX_TCP_FRAME, 79, MAX_TCP_FRAME),
    tcpMaxBuffered: integer(env, "TCP_MAX_BUFFERED", 256 * 1024, 4096, 64 * 1024 * 1024),
    workers: integer(env, "WORKERS", 0, 0, 256),
  };
  if (!config.udp4Listen && !config.udp6Listen && !config.tcp4Listen && !config.tcp6Listen) {
    throw new ConfigError(
      "all of DRASYL_UDP4_LISTEN, DRASYL_UDP6_LISTEN, DRASYL_TCP4_LISTEN and DRASYL_TCP6_LISTEN are empty: nothing to listen on",
    );
  }
  return config;
}
