import type { ServerArch } from "../provider.ts";

/**
 * What drasyl-deploy knows about Hetzner Cloud without asking its API: the locations, which server
 * type families exist where, and the defaults. Pure data, so the config schema can validate a
 * deployment before any credentials or network are involved.
 */
export const HCLOUD_LOCATIONS = {
  fsn1: "Falkenstein, DE",
  nbg1: "Nuremberg, DE",
  hel1: "Helsinki, FI",
  ash: "Ashburn, VA, US",
  hil: "Hillsboro, OR, US",
  sin: "Singapore, SG",
} as const;
export type HcloudLocation = keyof typeof HCLOUD_LOCATIONS;

export const HCLOUD_DEFAULT_LOCATIONS: HcloudLocation[] = ["fsn1", "nbg1", "hel1", "ash", "hil", "sin"];
const EU: readonly HcloudLocation[] = ["fsn1", "nbg1", "hel1"];
const ALL = Object.keys(HCLOUD_LOCATIONS) as HcloudLocation[];

interface Family {
  arch: ServerArch;
  locations: readonly HcloudLocation[];
  what: string;
}

/** Server type families by prefix. Arm (cax) and the cost-optimized Intel/AMD (cx) types exist only in the EU locations. */
export const HCLOUD_FAMILIES: Record<string, Family> = {
  cx: { arch: "x64", locations: EU, what: "shared vCPU, cost-optimized x86" },
  cax: { arch: "arm64", locations: EU, what: "shared vCPU, Ampere Arm" },
  cpx: { arch: "x64", locations: ALL, what: "shared vCPU, AMD" },
  ccx: { arch: "x64", locations: ALL, what: "dedicated vCPU, AMD" },
};

/** The smallest current shared-CPU type per location: cx23 where it exists, else cpx22. */
export function defaultServerType(location: HcloudLocation): string {
  return EU.includes(location) ? "cx23" : "cpx22";
}

export const HCLOUD_DEFAULT_IMAGE = "debian-12";
/** Images the installer supports (systemd, OpenSSH, cloud-init), or a numeric snapshot id. */
const IMAGE = /^(debian-1[2-9]|ubuntu-2[2-9]\.04|\d{1,12})$/;

export function isHcloudLocation(s: string): s is HcloudLocation {
  return Object.hasOwn(HCLOUD_LOCATIONS, s);
}

function family(serverType: string): { prefix: string; family: Family } | undefined {
  const m = /^(cx|cax|cpx|ccx)\d{2,3}$/.exec(serverType);
  const prefix = m?.[1];
  const f = prefix ? HCLOUD_FAMILIES[prefix] : undefined;
  return prefix && f ? { prefix, family: f } : undefined;
}

/** x64 or arm64: the installer pushes the matching Node runtime. */
export function hcloudArch(serverType: string): ServerArch {
  return family(serverType)?.family.arch ?? "x64";
}

/** Why this location/server type/image combination cannot work, or undefined when it can. */
export function checkServerType(location: string, serverType: string): string | undefined {
  const f = family(serverType);
  if (!f) return `"${serverType}" is not a Hetzner Cloud server type (expected e.g. cx23, cax11, cpx22, ccx13)`;
  if (!isHcloudLocation(location)) return undefined; // reported on the location itself
  if (!f.family.locations.includes(location)) {
    return `${serverType} (${f.family.what}) is not available in ${location} (${HCLOUD_LOCATIONS[location]}); ${f.prefix} types exist only in ${f.family.locations.join(", ")}`;
  }
  return undefined;
}

export function checkImage(image: string): string | undefined {
  return IMAGE.test(image)
    ? undefined
    : `"${image}" is not a supported image: use debian-12 (default), debian-13, ubuntu-24.04 or a numeric snapshot id`;
}

export function checkLocation(location: string): string | undefined {
  return isHcloudLocation(location)
    ? undefined
    : `unknown Hetzner Cloud location "${location}": use one of ${ALL.join(", ")}`;
}

/** One entry of `locations:` in the config: a location name, or a location with its own type/image. */
export type HcloudLocationEntry = string | { location: string; serverType?: string; image?: string };

export interface HcloudServerSpec {
  name: string;
  location: HcloudLocation;
  serverType: string;
  image: string;
  arch: ServerArch;
}

/** The servers a target yields, one per location, named `<deployment>-<location>`. */
export function hcloudServerSpecs(
  deployment: string,
  target: { locations: HcloudLocationEntry[]; serverType?: string; image?: string },
): HcloudServerSpec[] {
  return target.locations.map((entry) => {
    const e = typeof entry === "string" ? { location: entry } : entry;
    const location = e.location as HcloudLocation;
    const serverType = e.serverType ?? target.serverType ?? defaultServerType(location);
    return {
      name: `${deployment}-${location}`,
      location,
      serverType,
      image: e.image ?? target.image ?? HCLOUD_DEFAULT_IMAGE,
      arch: hcloudArch(serverType),
    };
  });
}
