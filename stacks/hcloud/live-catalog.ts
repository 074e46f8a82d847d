import { checkServerType, defaultServerType, HCLOUD_LOCATIONS, isHcloudLocation } from "./catalog.ts";

export const HCLOUD_TOKEN_HELP =
  "create one in the Hetzner Cloud Console: your project > Security > API tokens (Read & Write)";

export class HcloudApiError extends Error {
  override readonly name = "HcloudApiError";
}

export interface HcloudLocationChoice {
  name: string;
  /** "City, CC" */
  where: string;
}

export interface HcloudServerTypeChoice {
  name: string;
  description: string;
  /** Monthly gross price by location, as the API lists it (e.g. "4.1900"), when known. */
  monthly: Record<string, string>;
  locations: string[];
}

export interface HcloudCatalog {
  source: "api" | "built-in";
  locations: HcloudLocationChoice[];
  /** Only for source "api": the built-in catalog has no prices. */
  serverTypes: HcloudServerTypeChoice[];
  /** Locations the API lists that this drasyl-deploy does not support yet. */
  skipped: string[];
}

export function builtInHcloudCatalog(): HcloudCatalog {
  return {
    source: "built-in",
    locations: Object.entries(HCLOUD_LOCATIONS).map(([name, where]) => ({ name, where })),
    serverTypes: [],
    skipped: [],
  };
}

interface ApiLocation {
  name: string;
  city?: string;
  country?: string;
}
interface ApiServerType {
  name: string;
  description?: string;
  cores?: number;
  memory?: number;
  architecture?: string;
  deprecated?: boolean;
  deprecation?: unknown;
  prices?: { location: string; price_monthly?: { gross?: string } }[];
}
interface Page {
  meta?: { pagination?: { next_page?: number | null } };
}

async function getAll<T>(
  base: string,
  token: string,
  path: string,
  key: string,
  fetchImpl: typeof fetch,
): Promise<T[]> {
  const items: T[] = [];
  for (let page: number | null | undefined = 1; page;) {
    const url = `${base}${path}?per_page=50&page=${page}`;
    let res: Response;
    try {
      res = await fetchImpl(url, {
        headers: { Authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(15_000),
      });
    } catch (e) {
      throw new HcloudApiError(`cannot reach the Hetzner Cloud API at ${base}: ${(e as Error).message}`);
    }
    if (res.status === 401 || res.status === 403)
      throw new HcloudApiError(`Hetzner Cloud rejected HCLOUD_TOKEN (HTTP ${res.status}): ${HCLOUD_TOKEN_HELP}`);
    if (!res.ok) throw new HcloudApiError(`the Hetzner Cloud API answered ${url} with HTTP ${res.status}`);
    const body = (await res.json()) as Page & Record<string, unknown>;
    const list = body[key];
    if (!Array.isArray(list)) throw new HcloudApiError(`the Hetzner Cloud API answer of ${path} has no "${key}" list`);
    items.push(...(list as T[]));
    page = body.meta?.pagination?.next_page;
  }
  return items;
}

/** The API's base URL: HCLOUD_ENDPOINT overrides it, as for the hcloud CLI and the Pulumi provider. */
export function hcloudEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  return (env.HCLOUD_ENDPOINT || "https://api.hetzner.cloud/v1").replace(/\/+$/, "");
}

/** Live locations and current server types with prices; a rejected token throws with where to make one. */
export async function fetchHcloudCatalog(
  token: string,
  base: string = hcloudEndpoint(),
  fetchImpl: typeof fetch = fetch,
): Promise<HcloudCatalog> {
  const [locations, types] = await Promise.all([
    getAll<ApiLocation>(base, token, "/locations", "locations", fetchImpl),
    getAll<ApiServerType>(base, token, "/server_types", "server_types", fetchImpl),
  ]);
  const known = locations.filter((l) => isHcloudLocation(l.name));
  const serverTypes = types
    .filter((t) => !t.deprecated && !t.deprecation)
    .map((t) => {
      const prices = (t.prices ?? []).filter(
        (p) => known.some((l) => l.name === p.location) && checkServerType(p.location, t.name) === undefined,
      );
      return {
        name: t.name,
        description: [
          t.cores ? `${t.cores} vCPU` : "",
          t.memory ? `${t.memory} GB` : "",
          t.architecture === "arm" ? "Arm" : t.architecture ? "x86" : "",
        ]
          .filter(Boolean)
          .join(", "),
        monthly: Object.fromEntries(
          prices.filter((p) => p.price_monthly?.gross).map((p) => [p.location, p.price_monthly?.gross ?? ""]),
        ),
        locations: prices.map((p) => p.location),
      };
    })
    .filter((t) => t.locations.length > 0);
  return {
    source: "api",
    locations: known.map((l) => ({
      name: l.name,
      where:
        [l.city, l.country].filter(Boolean).join(", ") || HCLOUD_LOCATIONS[l.name as keyof typeof HCLOUD_LOCATIONS],
    })),
    serverTypes,
    skipped: locations.filter((l) => !isHcloudLocation(l.name)).map((l) => l.name),
  };
}

/** Server types offered in every chosen location, cheapest first. */
export function typesForLocations(catalog: HcloudCatalog, locations: string[]): HcloudServerTypeChoice[] {
  const price = (t: HcloudServerTypeChoice): number =>
    Math.max(...locations.map((l) => Number(t.monthly[l] ?? Infinity)));
  return catalog.serverTypes
    .filter((t) => locations.every((l) => t.locations.includes(l)))
    .sort((a, b) => price(a) - price(b) || a.name.localeCompare(b.name));
}

/** "€4.19/month" for the most expensive of the chosen locations, when the API listed prices. */
export function monthlyPrice(t: HcloudServerTypeChoice, locations: string[]): string | undefined {
  const prices = locations.map((l) => Number(t.monthly[l]));
  if (prices.some((p) => !Number.isFinite(p))) return undefined;
  const max = Math.max(...prices);
  const min = Math.min(...prices);
  return min === max ? `€${max.toFixed(2)}/month` : `€${min.toFixed(2)}-${max.toFixed(2)}/month`;
}

/** What the locations get when no server type is set, for the "default" choice, with prices when the API listed them. */
export function defaultTypesText(locations: string[], catalog?: HcloudCatalog): string {
  const byType = new Map<string, string[]>();
  for (const l of locations)
    if (isHcloudLocation(l)) byType.set(defaultServerType(l), [...(byType.get(defaultServerType(l)) ?? []), l]);
  return [...byType]
    .map(([t, ls]) => {
      const listed = catalog?.serverTypes.find((x) => x.name === t);
      const price = listed ? monthlyPrice(listed, ls) : undefined;
      return `${t} in ${ls.join(", ")}${price ? ` ${price}` : ""}`;
    })
    .join(", ");
}
