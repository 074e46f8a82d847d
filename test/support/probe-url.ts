/**
 * Probes the super peers of a DRASYL_SUPER_PEERS value over UDP and TCP and prints the results as
 * JSON. A script, so a test can run it inside a network namespace: `ip netns exec NS node --import tsx ...`.
 */
import { probeSuperPeer, useProbeIdentity } from "../../sp-runtime/node/probe.ts";
import { parseSuperPeerList } from "../../sp-runtime/node/super-peer-url.ts";
import { vectorIdentity } from "./super-peer.ts";

useProbeIdentity(async () => vectorIdentity("id_2"));
const list = parseSuperPeerList(process.argv[2] ?? "");
const results = [];
for (const sp of list.superPeers) {
  results.push({ host: sp.host, udp: await probeSuperPeer(sp, "udp", list.networkId), tcp: await probeSuperPeer(sp, "tcp", list.networkId) });
}
process.stdout.write(`${JSON.stringify(results)}\n`);
