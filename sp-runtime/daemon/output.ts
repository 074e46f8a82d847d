import { interfaceAddresses } from "../util/interface-addresses.ts";
import { decodeEndpoints, formatEndpoint, hostPort } from "../wire/endpoints.ts";
import type { ListenAddress, SuperPeerConfig } from "./config.ts";
import type { Peer } from "./peer-table.ts";

/**
 * The URLs nodes can use, one per address, de-duplicated (Rust prints each IPv4 twice with the
 * default listeners). A wildcard listener expands to the interface addresses; a [::] listener
 * covers IPv4 too, as it does on a dual-stack socket.
 */
export function listeningUrls(config: SuperPeerConfig, publicKeyHex: string, addrs = interfaceAddresses()): string[] {
  const tcpPort = config.tcp6Listen?.port ?? config.tcp4Listen?.port;
  const query = `publicKey=${publicKeyHex}&networkId=${config.networkId}${tcpPort === undefined ? "" : `&tcpPort=${tcpPort}`}`;
  const urls: string[] = [];
  const expand = (l: ListenAddress | undefined, v6: boolean): void => {
    if (!l) return;
    const hosts = l.host === "0.0.0.0" ? addrs.v4 : l.host === "::" ? [...addrs.v6, ...addrs.v4] : [l.host];
    for (const h of hosts) {
      const url = `udp://${hostPort(h, l.port)}?${query}`;
      if (!urls.includes(url) && (v6 || !h.includes(":"))) urls.push(url);
    }
  };
  expand(config.udp4Listen, false);
  expand(config.udp6Listen, true);
  return urls;
}

export function formatListening(urls: string[]): string {
  return `Super peer listening on:\n${urls.map((u) => `  ${u}\n`).join("")}`;
}

/** The periodic table of protocol.md s5.7. */
export function formatPeers(peers: Iterable<Peer>, now: number): string {
  let out = `${"Node".padEnd(64)} ${"PoW".padEnd(3)} ${"HelloRx".padEnd(7)} HelloSrc\n`;
  let n = 0;
  for (const p of peers) {
    n++;
    const age = p.helloAt === 0 ? "" : String(Math.max(0, now - p.helloAt));
    const src = p.helloAt === 0 ? "" : `${p.prot}://${hostPort(p.address, p.port)}`;
    const eps = decodeEndpoints(p.endpoints)
      .map((e) => ` udp://${formatEndpoint(e)}`)
      .join("");
    out += `${p.publicKeyHex} ${(p.validPow ? "ok" : "nok").padEnd(3)} ${age.padEnd(7)} ${src}${eps}\n`;
  }
  return `${out}Total Peers: ${n}\n`;
}
