/**
 * Probes the super peers of a DRASYL_SUPER_PEERS value over UDP and TCP and prints the results as
 * JSON. A script, so a test can run it inside a network namespace: `ip netns exec NS node --import tsx ...`.
 */
import { probeSuperPeer } from "../../sp-runtime/node/prober.ts";
import { parseSuperPeerList } from "../../sp-runtime/node/super-peer-url.ts";
import { vectorIdentity } from "./super-peer.ts";

const identity = vectorIdentity("id_2");
const list = parseSuperPeerList(process.argv[2] ?? "");
const opts = { networkId: list.networkId, arm: true, timeoutMs: 3000 };
const results = [];
for (const sp of list.superPeers) {
  results.push({
    host: sp.host,
    udp: await probeSuperPeer(identity, sp, "udp", opts),
    tcp: await probeSuperPeer(identity, sp, "tcp", opts),
  });
}
process.stdout.write(`${JSON.stringify(results)}\n`);
