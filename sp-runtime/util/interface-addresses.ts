import { networkInterfaces } from "node:os";
import ipaddr from "ipaddr.js";

/** Interfaces Rust's get_addrs() leaves out: tunnels, overlays, container bridges. */
const SKIPPED_INTERFACES = ["feth", "utun", "tun", "zt", "drasyl", "docker", "br-"];

/**
 * The addresses worth telling nodes about, as Rust's get_addrs() picks them (protocol.md s4.4):
 * non-loopback interfaces not named above; IPv4 that is private or global; IPv6 that is global
 * (ULA, link-local, multicast, documentation excluded). Shared by the super peer's URL list and
 * the test node's reported endpoints, so both say the same thing about one machine.
 */
export function interfaceAddresses(): { v4: string[]; v6: string[] } {
  const v4: string[] = [];
  const v6: string[] = [];
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (SKIPPED_INTERFACES.some((p) => name.startsWith(p))) continue;
    for (const a of addrs ?? []) {
      if (a.internal) continue;
      const range = ipaddr.parse(a.address).range();
      if (a.family === "IPv4" && (range === "private" || range === "unicast")) v4.push(a.address);
      if (a.family === "IPv6" && range === "unicast") v6.push(a.address);
    }
  }
  return { v4, v6 };
}
