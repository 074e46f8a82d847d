import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A local HTTP server that answers the two Hetzner Cloud API endpoints `init` reads, as the real
 * API does (Bearer token, pagination in meta.pagination, 401 with an error object for a bad token).
 * The data is a trimmed copy of real answers, plus a location this drasyl-deploy does not know.
 */
const LOCATIONS = [
  {
    id: 1,
    name: "fsn1",
    description: "Falkenstein DC Park 1",
    country: "DE",
    city: "Falkenstein",
    network_zone: "eu-central",
  },
  {
    id: 2,
    name: "nbg1",
    description: "Nuremberg DC Park 1",
    country: "DE",
    city: "Nuremberg",
    network_zone: "eu-central",
  },
  {
    id: 3,
    name: "hel1",
    description: "Helsinki DC Park 1",
    country: "FI",
    city: "Helsinki",
    network_zone: "eu-central",
  },
  { id: 4, name: "ash", description: "Ashburn, VA", country: "US", city: "Ashburn, VA", network_zone: "us-east" },
  { id: 5, name: "hil", description: "Hillsboro, OR", country: "US", city: "Hillsboro, OR", network_zone: "us-west" },
  { id: 6, name: "sin", description: "Singapore", country: "SG", city: "Singapore", network_zone: "ap-southeast" },
  { id: 99, name: "xyz9", description: "Somewhere new", country: "ZZ", city: "Newtown", network_zone: "zz" },
];

function price(location: string, gross: string): { location: string; price_monthly: { net: string; gross: string } } {
  return { location, price_monthly: { net: gross, gross } };
}
const EU = ["fsn1", "nbg1", "hel1"];
const ALL = ["fsn1", "nbg1", "hel1", "ash", "hil", "sin"];
const SERVER_TYPES = [
  {
    id: 1,
    name: "cx23",
    description: "CX23",
    cores: 2,
    memory: 4,
    disk: 40,
    architecture: "x86",
    deprecation: null,
    prices: EU.map((l) => price(l, "4.1900")),
  },
  {
    id: 2,
    name: "cax11",
    description: "CAX11",
    cores: 2,
    memory: 4,
    disk: 40,
    architecture: "arm",
    deprecation: null,
    prices: EU.map((l) => price(l, "4.4900")),
  },
  {
    id: 3,
    name: "cpx22",
    description: "CPX22",
    cores: 2,
    memory: 4,
    disk: 80,
    architecture: "x86",
    deprecation: null,
    prices: ALL.map((l) => price(l, EU.includes(l) ? "7.9900" : "9.4900")),
  },
  {
    id: 4,
    name: "ccx13",
    description: "CCX13",
    cores: 2,
    memory: 8,
    disk: 80,
    architecture: "x86",
    deprecation: null,
    prices: ALL.map((l) => price(l, "15.4900")),
  },
  {
    id: 5,
    name: "cx22",
    description: "CX22 (old)",
    cores: 2,
    memory: 4,
    disk: 40,
    architecture: "x86",
    deprecation: { announced: "2025-01-01T00:00:00Z" },
    prices: EU.map((l) => price(l, "3.9900")),
  },
];

export interface FakeHcloud {
  url: string;
  /** Paths requested, with their Authorization header. */
  requests: { path: string; auth?: string }[];
  close(): Promise<void>;
}

export async function startFakeHcloud(token: string): Promise<FakeHcloud> {
  const requests: FakeHcloud["requests"] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    requests.push({ path: url.pathname + url.search, auth: req.headers.authorization });
    res.setHeader("content-type", "application/json");
    if (req.headers.authorization !== `Bearer ${token}`) {
      res.statusCode = 401;
      res.end(JSON.stringify({ error: { code: "unauthorized", message: "unable to authenticate" } }));
      return;
    }
    const lists: Record<string, unknown[]> = { "/v1/locations": LOCATIONS, "/v1/server_types": SERVER_TYPES };
    const list = lists[url.pathname];
    if (!list) {
      res.statusCode = 404;
      res.end(JSON.stringify({ error: { code: "not_found", message: "not found" } }));
      return;
    }
    // Pages of 3 whatever per_page asks for, so a client that ignores pagination misses entries.
    const page = Number(url.searchParams.get("page") ?? "1");
    const perPage = 3;
    const last = Math.ceil(list.length / perPage);
    const key = url.pathname.slice(4);
    res.end(
      JSON.stringify({
        [key]: list.slice((page - 1) * perPage, page * perPage),
        meta: {
          pagination: {
            page,
            per_page: perPage,
            previous_page: page > 1 ? page - 1 : null,
            next_page: page < last ? page + 1 : null,
            last_page: last,
            total_entries: list.length,
          },
        },
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
