import ipaddr from "ipaddr.js";
import { ENDPOINT_LEN } from "./constants.ts";

/** A UDP contact address. IPv4 stays dotted-quad; IPv6 is in its canonical short form. */
export interface Endpoint {
  address: string;
  port: number;
}

export class EndpointError extends Error {
  override readonly name = "EndpointError";
}

/** Port first, then the address as IPv6 (IPv4 mapped into ::ffff:0:0/96). */
export function writeEndpoint(buf: Uint8Array, off: number, ep: Endpoint): void {
  if (!Number.isInteger(ep.port) || ep.port < 0 || ep.port > 0xffff) throw new EndpointError(`invalid port ${ep.port}`);
  if (!ipaddr.isValid(ep.address)) throw new EndpointError(`invalid IP address "${ep.address}"`);
  const parsed = ipaddr.parse(ep.address);
  const v6 = parsed.kind() === "ipv4" ? (parsed as ipaddr.IPv4).toIPv4MappedAddress() : parsed;
  buf[off] = ep.port >>> 8;
  buf[off + 1] = ep.port & 0xff;
  buf.set(v6.toByteArray(), off + 2);
}

export function encodeEndpoints(eps: readonly Endpoint[]): Uint8Array {
  const out = new Uint8Array(eps.length * ENDPOINT_LEN);
  eps.forEach((ep, i) => writeEndpoint(out, i * ENDPOINT_LEN, ep));
  return out;
}

export function readEndpoint(buf: Uint8Array, off: number): Endpoint {
  const port = ((buf[off] as number) << 8) | (buf[off + 1] as number);
  const v6 = ipaddr.fromByteArray(Array.from(buf.subarray(off + 2, off + ENDPOINT_LEN))) as ipaddr.IPv6;
  const address = v6.isIPv4MappedAddress() ? v6.toIPv4Address().toString() : v6.toString();
  return { port, address };
}

/** EndpointsList::from: port-0 entries skipped, duplicates collapsed, a trailing partial entry ignored. */
export function decodeEndpoints(bytes: Uint8Array): Endpoint[] {
  const seen = new Set<string>();
  const out: Endpoint[] = [];
  for (let off = 0; off + ENDPOINT_LEN <= bytes.length; off += ENDPOINT_LEN) {
    const ep = readEndpoint(bytes, off);
    if (ep.port === 0) continue;
    const key = formatEndpoint(ep);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(ep);
  }
  return out;
}

/** host:port with an IPv6 host in brackets, as a SocketAddr displays and as super peer URLs need. */
export function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

export function formatEndpoint(ep: Endpoint): string {
  return hostPort(ep.address, ep.port);
}
