import { probeBoth } from "../../stacks/install/health.ts";
import { listServers, openDeployment } from "../deployment.ts";
import { formatSuperPeers, type PeerFormat, superPeerUrl } from "../output/super-peers.ts";
import { loadIdentity } from "../state/identities.ts";
import { formatPeersDiff, readPeersHistory } from "../state/peers-history.ts";

export interface PeersOptions {
  config?: string;
  stateDir: string;
  all: boolean;
  format: PeerFormat;
  /** Instead of the value: how the last up changed it. */
  diff?: boolean;
}

/**
 * The DRASYL_SUPER_PEERS value for clients, built from the backed-up identities. Only super peers
 * that answer a real drasyl HELLO over UDP and TCP are listed, unless --all: handing clients a
 * dead super peer costs them a timeout on every start.
 */
export async function peers(opts: PeersOptions, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  const d = openDeployment(opts.config, opts.stateDir);
  if (opts.diff) {
    const { text, warnings } = formatPeersDiff(readPeersHistory(d.stateDir, d.config.deployment));
    out(text);
    for (const w of warnings) process.stderr.write(`${w}\n`);
    return 0;
  }
  const servers = await listServers(d);
  const { networkId, udpPort, tcpPort } = d.settings;
  const urls: string[] = [];
  let left = 0;
  for (const server of servers) {
    const identity = loadIdentity(d.stateDir, d.config.deployment, server.name);
    if (!identity) {
      process.stderr.write(`${server.name}: no identity in the local state (not deployed yet?): left out\n`);
      left++;
      continue;
    }
    if (!opts.all) {
      const { udp, tcp } = await probeBoth(server, identity.publicKeyHex, d.settings);
      if (!udp.ok || !tcp.ok) {
        process.stderr.write(`${server.name}: does not answer (${!udp.ok ? `udp: ${udp.error}` : `tcp: ${tcp.ok ? "" : tcp.error}`}): left out (--all lists it anyway)\n`);
        left++;
        continue;
      }
    }
    urls.push(superPeerUrl({ server, publicKeyHex: identity.publicKeyHex }, networkId, udpPort, tcpPort));
  }
  if (urls.length === 0) {
    process.stderr.write(`No super peer of deployment "${d.config.deployment}" to list.\n`);
    return 1;
  }
  out(formatSuperPeers(urls, networkId, opts.format));
  return left === 0 ? 0 : 1;
}
