import { existsSync } from "node:fs";
import { run, tryRun } from "./run.ts";

/**
 * The lab network: one bridge in the machine's namespace carrying the operator's address, and
 * per host a network namespace joined to it by a veth pair. Nothing is routed beyond the bridge
 * (ip_forward stays as it is, off), so hosts are as air-gapped as the lab intends.
 */
export const BRIDGE = "ddlab0";
export const OPERATOR_IPV4 = "10.213.0.1";
export const OPERATOR_IPV6 = "fd00:dd:1::1";
const IPV4_PREFIX = "10.213.0.";
const IPV6_PREFIX = "fd00:dd:1::";

/**
 * Fixed MAC addresses, like a VM's NIC that keeps its MAC across reboots. A host restarted with a
 * new random MAC is unreachable until the neighbours' ARP/NDP entries for its IP expire (measured:
 * about 18 s); a bridge without a set MAC takes its ports' MACs, which change as hosts come and go.
 */
const BRIDGE_MAC = "02:dd:0a:d5:00:01";

export function hostAddresses(index: number): { ipv4: string; ipv6: string; mac: string } {
  const hex = index.toString(16);
  return {
    ipv4: `${IPV4_PREFIX}${index}`,
    ipv6: `${IPV6_PREFIX}${hex}`,
    mac: `02:dd:0a:d5:01:${hex.padStart(2, "0")}`,
  };
}

function linkExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

/** The name of a host's netns, its bridge-side veth and its cgroup: 14 characters (IFNAMSIZ is 15). */
export function hostTag(id: string): string {
  return `ddlab-${id}`;
}

export function netnsExists(ns: string): boolean {
  return existsSync(`/run/netns/${ns}`);
}

/** Creates the bridge, or completes one an interruption left half-configured. */
export async function ensureBridge(): Promise<void> {
  if (!linkExists(BRIDGE)) await run("ip", ["link", "add", BRIDGE, "address", BRIDGE_MAC, "type", "bridge"]);
  await run("ip", ["addr", "replace", `${OPERATOR_IPV4}/24`, "dev", BRIDGE]);
  // nodad: the address is usable at once instead of after duplicate detection (about 1 s).
  await run("ip", ["-6", "addr", "replace", `${OPERATOR_IPV6}/64`, "dev", BRIDGE, "nodad"]);
  await run("ip", ["link", "set", BRIDGE, "up"]);
}

/** Deletes the bridge unless some host (of any deployment) is still attached to it. */
export async function removeBridgeIfUnused(): Promise<boolean> {
  if (!linkExists(BRIDGE)) return true;
  const ports = JSON.parse(await run("ip", ["-j", "link", "show", "master", BRIDGE])) as unknown[];
  if (ports.length > 0) return false;
  await tryRun("ip", ["link", "del", BRIDGE]);
  return true;
}

/**
 * A fresh namespace `ns` whose `eth0` has the host's addresses and default routes via the
 * operator; the other end of the veth, named `ns` too, is a port of the bridge. Anything left
 * from an earlier attempt is replaced, so this converges after an interruption.
 */
export async function createHostNetwork(ns: string, index: number): Promise<void> {
  await removeHostNetwork(ns);
  const { ipv4, ipv6, mac } = hostAddresses(index);
  await run("ip", ["netns", "add", ns]);
  await run("ip", ["link", "add", ns, "type", "veth", "peer", "name", "eth0", "address", mac, "netns", ns]);
  await run("ip", ["link", "set", ns, "master", BRIDGE, "up"]);
  const inNs = (args: string[]): Promise<string> => run("ip", ["-n", ns, ...args]);
  await inNs(["link", "set", "lo", "up"]);
  await inNs(["addr", "add", `${ipv4}/24`, "dev", "eth0"]);
  await inNs(["-6", "addr", "add", `${ipv6}/64`, "dev", "eth0", "nodad"]);
  await inNs(["link", "set", "eth0", "up"]);
  await inNs(["route", "add", "default", "via", OPERATOR_IPV4]);
  await inNs(["-6", "route", "add", "default", "via", OPERATOR_IPV6]);
}

/** Deleting the namespace deletes its eth0 and with it the bridge end of the pair. */
export async function removeHostNetwork(ns: string): Promise<void> {
  if (netnsExists(ns)) await run("ip", ["netns", "del", ns]);
  if (linkExists(ns)) await tryRun("ip", ["link", "del", ns]);
}
