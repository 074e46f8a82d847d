import type { Server } from "../../stacks/provider.ts";

export const PEER_FORMATS = ["env", "lines", "whitespace", "toml", "json"] as const;
export type PeerFormat = (typeof PEER_FORMATS)[number];

export interface DeployedSuperPeer {
  server: Server;
  publicKeyHex: string;
}

/** A DNS name from the config beats an IP; IPv6 literals need brackets (protocol.md s4.2). */
export function superPeerHost(server: Server): string {
  if (server.dnsName) return server.dnsName;
  if (server.ipv4) return server.ipv4;
  if (server.ipv6) return `[${server.ipv6}]`;
  return server.ssh.host.includes(":") ? `[${server.ssh.host}]` : server.ssh.host;
}

export function superPeerUrl(sp: DeployedSuperPeer, networkId: number, udpPort: number, tcpPort: number): string {
  return `udp://${superPeerHost(sp.server)}:${udpPort}?publicKey=${sp.publicKeyHex}&networkId=${networkId}&tcpPort=${tcpPort}`;
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
