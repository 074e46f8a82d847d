/**
 * Super peer URLs as drasyl nodes take them (protocol.md s4.2):
 * `udp://<host:port>?publicKey=<64 hex>[&networkId=<i32>][&tcpPort=<u16>]`.
 *
 * We follow Rust's query rules (defaults, silently ignored unparsable values, unknown keys ignored,
 * no percent-decoding) but, unlike Rust, we parse the address part: Rust derives the TCP address
 * as `addr.split(':')[0]`, which breaks every IPv6 literal, and we want TCP to work for those.
 */
import { isIP } from "node:net";
import { DEFAULT_NETWORK_ID } from "../wire/constants.ts";
import { hostPort } from "../wire/endpoints.ts";
import { bytesToHex, hexToBytes } from "../util/hex.ts";

/** Rust's default; note the super peer itself listens on 8443 by default. */
export const DEFAULT_TCP_PORT = 443;

/** What a DrasylNode needs to reach one super peer. */
export interface SuperPeerAddress {
  /** DNS name or IP literal, IPv6 without brackets. */
  host: string;
  port: number;
  tcpPort: number;
  publicKey: Uint8Array;
}

export interface SuperPeerUrl extends SuperPeerAddress {
  /** The `host:port` part exactly as written (Rust keeps it verbatim and formats it back as is). */
  addr: string;
  networkId: number;
}

export type SuperPeerUrlErrorCode =
  | "invalid_url"
  | "no_addr"
  | "invalid_addr"
  | "no_public_key"
  | "invalid_public_key"
  | "network_id_mismatch"
  | "empty_list";

export class SuperPeerUrlError extends Error {
  override readonly name = "SuperPeerUrlError";
  readonly code: SuperPeerUrlErrorCode;
  /** The URL (or list entry) the error is about. */
  readonly input: string;

  constructor(code: SuperPeerUrlErrorCode, input: string, message: string) {
    super(message);
    this.code = code;
    this.input = input;
  }
}

const SCHEME = "udp://";

/** Rust's `i32::from_str`: optional sign, ASCII digits only, in range; anything else is "unparsable". */
function parseI32(s: string): number | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const n = Number(s);
  return n >= -0x80000000 && n <= 0x7fffffff ? n : undefined;
}

/** Rust's `u16::from_str`: a leading `+` is allowed, a `-` is not. */
function parseU16(s: string): number | undefined {
  if (!/^\+?[0-9]+$/.test(s)) return undefined;
  const n = Number(s);
  return n <= 0xffff ? n : undefined;
}

function splitAddr(addr: string, url: string): { host: string; port: number } {
  let host: string;
  let portText: string;
  if (addr.startsWith("[")) {
    const close = addr.indexOf("]");
    if (close < 0 || addr[close + 1] !== ":") {
      throw new SuperPeerUrlError("invalid_addr", url, `super peer address "${addr}" must be [IPv6]:port`);
    }
    host = addr.slice(1, close);
    portText = addr.slice(close + 2);
    if (isIP(host) !== 6)
      throw new SuperPeerUrlError(
        "invalid_addr",
        url,
        `"${host}" in super peer address "${addr}" is not an IPv6 address`,
      );
  } else {
    const colon = addr.lastIndexOf(":");
    if (colon < 0)
      throw new SuperPeerUrlError("invalid_addr", url, `super peer address "${addr}" has no port (expected host:port)`);
    host = addr.slice(0, colon);
    portText = addr.slice(colon + 1);
    // Rust would resolve "::1:22527" by splitting at the last colon; we refuse the ambiguity.
    if (host.includes(":")) {
      throw new SuperPeerUrlError(
        "invalid_addr",
        url,
        `IPv6 literal in super peer address "${addr}" needs brackets: [${host}]:${portText}`,
      );
    }
    if (host === "") throw new SuperPeerUrlError("invalid_addr", url, `super peer address "${addr}" has no host`);
  }
  const port = parseU16(portText);
  if (port === undefined || port === 0) {
    throw new SuperPeerUrlError("invalid_addr", url, `super peer address "${addr}" has an invalid port "${portText}"`);
  }
  return { host, port };
}

export function parseSuperPeerUrl(url: string): SuperPeerUrl {
  if (!url.startsWith(SCHEME))
    throw new SuperPeerUrlError("invalid_url", url, `super peer URL "${url}" must start with ${SCHEME}`);
  const q = url.indexOf("?");
  if (q < 0) throw new SuperPeerUrlError("no_addr", url, `super peer URL "${url}" has no "?publicKey=..." query`);
  const addr = url.slice(SCHEME.length, q);
  const { host, port } = splitAddr(addr, url);

  let publicKey: Uint8Array | undefined;
  let networkId = DEFAULT_NETWORK_ID;
  let tcpPort = DEFAULT_TCP_PORT;
  for (const part of url.slice(q + 1).split("&")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const key = part.slice(0, eq);
    const value = part.slice(eq + 1);
    if (key === "publicKey") {
      try {
        publicKey = hexToBytes(value, 32);
      } catch (e) {
        throw new SuperPeerUrlError(
          "invalid_public_key",
          url,
          `super peer URL "${url}" has an invalid publicKey: ${(e as Error).message}`,
        );
      }
    } else if (key === "networkId") {
      networkId = parseI32(value) ?? networkId;
    } else if (key === "tcpPort") {
      tcpPort = parseU16(value) ?? tcpPort;
    }
  }
  if (publicKey === undefined)
    throw new SuperPeerUrlError("no_public_key", url, `super peer URL "${url}" has no publicKey`);
  return { addr, host, port, tcpPort, publicKey, networkId };
}

/** Rust's Display form; always spells out networkId and tcpPort. */
export function formatSuperPeerUrl(
  u: Pick<SuperPeerUrl, "host" | "port" | "tcpPort" | "publicKey" | "networkId"> & { addr?: string },
): string {
  const addr = u.addr ?? hostPort(u.host, u.port);
  return `${SCHEME}${addr}?publicKey=${bytesToHex(u.publicKey)}&networkId=${u.networkId}&tcpPort=${u.tcpPort}`;
}

export interface SuperPeerList {
  superPeers: SuperPeerUrl[];
  /** The one network id all entries share; it becomes the node's network id. */
  networkId: number;
}

/**
 * Splits on whitespace like Rust's parse_list, and also on commas because our deploy tool prints
 * comma-separated lists (a comma can never be part of a valid entry: hex keys and ports have none).
 */
export function parseSuperPeerList(text: string): SuperPeerList {
  const superPeers = text
    .split(/[\s,]+/)
    .filter((s) => s !== "")
    .map(parseSuperPeerUrl);
  const first = superPeers[0];
  if (first === undefined) throw new SuperPeerUrlError("empty_list", text, "super peer list is empty");
  for (const sp of superPeers) {
    if (sp.networkId !== first.networkId) {
      throw new SuperPeerUrlError(
        "network_id_mismatch",
        text,
        `super peers disagree on the network id: ${formatSuperPeerUrl(first)} has ${first.networkId}, ${formatSuperPeerUrl(sp)} has ${sp.networkId}`,
      );
    }
  }
  return { superPeers, networkId: first.networkId };
}
