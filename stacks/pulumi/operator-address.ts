import { isIP } from "node:net";
import { CloudError } from "./errors.ts";

export interface PublicAddresses {
  ipv4?: string;
  ipv6?: string;
}

/** Finds this machine's public addresses as the internet sees them. */
export type AddressDetector = () => Promise<PublicAddresses>;

async function ask(url: string, family: 4 | 6): Promise<string | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) return undefined;
    const text = (await res.text()).trim();
    return isIP(text) === family ? text : undefined;
  } catch {
    return undefined;
  }
}

/** Asks two plain-text "what is my IP" services, one per family (each answers over that family only). */
export const detectPublicAddresses: AddressDetector = async () => {
  const [ipv4, ipv6] = await Promise.all([ask("https://checkip.amazonaws.com", 4), ask("https://api6.ipify.org", 6)]);
  return { ...(ipv4 ? { ipv4 } : {}), ...(ipv6 ? { ipv6 } : {}) };
};

/** The /64 an IPv6 address is in (privacy addresses change within it; the prefix stays). */
export function ipv6Prefix64(address: string): string {
  const [head = "", tail = ""] = address.split("%")[0]!.split("::");
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = address.includes("::") ? [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t] : h;
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g || "0", 16).toString(16))
    .join(":")}::/64`;
}

/**
 * Who may reach SSH on the servers: the configured CIDRs, else this machine's public IPv4 (/32)
 * and IPv6 network (/64), found when the command runs, so the firewall follows the operator.
 */
export async function sshSources(
  configured: string[] | undefined,
  detect: AddressDetector = detectPublicAddresses,
): Promise<string[]> {
  if (configured && configured.length > 0) return [...configured];
  const found = await detect();
  const sources = [...(found.ipv4 ? [`${found.ipv4}/32`] : []), ...(found.ipv6 ? [ipv6Prefix64(found.ipv6)] : [])];
  if (sources.length === 0) {
    throw new CloudError(
      "engine",
      "cannot find this machine's public address to allow SSH from it (no answer from checkip.amazonaws.com / api6.ipify.org): list who may use SSH in the config, e.g. `allowSsh: [203.0.113.7/32]`",
    );
  }
  return sources;
}
