import { lookup, Resolver } from "node:dns/promises";
import { isIP } from "node:net";
import ipaddr from "ipaddr.js";

/**
 * The addresses `name` resolves to from this machine, as clients would see them (the system
 * resolver, /etc/hosts included). DRASYL_DEPLOY_DNS_SERVER=<ip>[:port] asks that DNS server instead:
 * to check a record at its authoritative server, and for tests.
 */
export async function resolveName(name: string, env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  const server = env.DRASYL_DEPLOY_DNS_SERVER;
  let addresses: string[];
  if (server) {
    const resolver = new Resolver({ timeout: 2000, tries: 2 });
    resolver.setServers([server]);
    const family = async (f: Promise<string[]>): Promise<string[]> =>
      f.catch((e: NodeJS.ErrnoException) => (e.code === "ENODATA" || e.code === "ENOTFOUND" ? [] : Promise.reject(e)));
    addresses = [...(await family(resolver.resolve4(name))), ...(await family(resolver.resolve6(name)))];
    if (addresses.length === 0)
      throw Object.assign(new Error(`${name} has no A or AAAA record at ${server}`), { code: "ENOTFOUND" });
  } else {
    addresses = (await lookup(name, { all: true })).map((a) => a.address);
  }
  return [...new Set(addresses.map(canonicalIp))];
}

/** One spelling per address (IPv6 shortened, lowercase), so addresses compare as strings. */
export function canonicalIp(address: string): string {
  return isIP(address) === 0 ? address : ipaddr.parse(address).toString();
}
