import type { Settings } from "../../stacks/install/settings.ts";
import type { Server } from "../../stacks/provider.ts";
import { formatSuperPeerUrl } from "../../sp-runtime/node/super-peer-url.ts";
import { hexToBytes } from "../../sp-runtime/util/hex.ts";

export const PEER_FORMATS = ["env", "lines", "whitespace", "toml", "json"] as const;
export type PeerFormat = (typeof PEER_FORMATS)[number];

export interface DeployedSuperPeer {
  server: Server;
  publicKeyHex: string;
}

/** What clients are given: a DNS name from the config beats an IP, IPv4 beats IPv6. */
export function superPeerHost(server: Server): string {
  return server.dnsName ?? server.ipv4 ?? server.ipv6 ?? server.ssh.host;
}

export function superPeerUrl(
  sp: DeployedSuperPeer,
  settings: Pick<Settings, "networkId" | "udpPort" | "tcpPort">,
): string {
  return formatSuperPeerUrl({
    host: superPeerHost(sp.server),
    port: settings.udpPort,
    tcpPort: settings.tcpPort,
    publicKey: hexToBytes(sp.publicKeyHex, 32),
    networkId: settings.networkId,
  });
}

/**
 * The client configuration in the form the consumer reads: the seed guide's comma-separated env
 * line by default, whitespace-separated for the Rust example node (it splits on whitespace), one
 * per line, the agent's TOML, or JSON.
 */
export function formatSuperPeers(urls: string[], networkId: number, format: PeerFormat): string {
  switch (format) {
    case "env":
      return `DRASYL_SUPER_PEERS="${urls.join(",")}"\nDRASYL_NETWORK_ID=${networkId}\n`;
    case "whitespace":
      return `DRASYL_SUPER_PEERS="${urls.join(" ")}"\nDRASYL_NETWORK_ID=${networkId}\n`;
    case "lines":
      return urls.map((u) => `${u}\n`).join("");
    case "toml":
      // The agent derives the network id from the URLs; an extra key could fail its config parse.
      return `super_peers = [\n${urls.map((u) => `  "${u}",\n`).join("")}]\n`;
    case "json":
      return `${JSON.stringify({ networkId, superPeers: urls }, null, 2)}\n`;
  }
}
