import {
  ACK_LEN,
  ENDPOINT_LEN,
  HELLO_NODE_LEN,
  HELLO_SP_FIXED_LEN,
  HELLO_SP_MAX_LEN,
  UNITE_FIXED_LEN,
  UNITE_MAX_LEN,
} from "./constants.ts";
import { decodeEndpoints, type Endpoint, encodeEndpoints } from "./endpoints.ts";
import { readU32, writeU32 } from "./header.ts";
import { accept, type Result, reject } from "./result.ts";

export function readU64(buf: Uint8Array, off: number): bigint {
  return (BigInt(readU32(buf, off)) << 32n) | BigInt(readU32(buf, off + 4));
}

export function writeU64(buf: Uint8Array, off: number, v: bigint): void {
  writeU32(buf, off, Number((v >> 32n) & 0xffffffffn));
  writeU32(buf, off + 4, Number(v & 0xffffffffn));
}

/** Wall clock in µs, the unit of every drasyl timestamp. */
export function nowMicros(): bigint {
  return BigInt(Date.now()) * 1000n;
}

export interface HelloSuperPeer {
  time: bigint;
  childTime: bigint;
  /** Raw endpoint bytes after the 15-entry truncation, as the super peer stores and forwards them. */
  endpointBytes: Uint8Array;
  endpoints: Endpoint[];
}

export function encodeHelloSuperPeer(time: bigint, endpoints: readonly Endpoint[], childTime = 1n): Uint8Array {
  const eps = encodeEndpoints(endpoints);
  const out = new Uint8Array(HELLO_SP_FIXED_LEN + eps.length);
  writeU64(out, 0, time);
  writeU64(out, 8, childTime);
  out.set(eps, HELLO_SP_FIXED_LEN);
  return out;
}

/** Truncates to 15 endpoints before the multiple-of-18 check, so excess endpoints are dropped, not refused. */
export function decodeHelloSuperPeer(body: Uint8Array): Result<HelloSuperPeer> {
  if (body.length < HELLO_SP_FIXED_LEN) return reject("body_too_short");
  const b = body.subarray(0, HELLO_SP_MAX_LEN);
  const childTime = readU64(b, 8);
  if (childTime === 0n) return reject("child_time_invalid");
  const endpointBytes = b.subarray(HELLO_SP_FIXED_LEN);
  if (endpointBytes.length % ENDPOINT_LEN !== 0) return reject("endpoints_invalid");
  return accept({ time: readU64(b, 0), childTime, endpointBytes, endpoints: decodeEndpoints(endpointBytes) });
}

export interface HelloNodePeer {
  time: bigint;
  /** The sender's rx short id; all zero means none. */
  shortId: Uint8Array;
}

export function encodeHelloNodePeer(time: bigint, shortId: Uint8Array): Uint8Array {
  const out = new Uint8Array(HELLO_NODE_LEN);
  writeU64(out, 0, time);
  out.set(shortId.subarray(0, 4), 8);
  return out;
}

export function decodeHelloNodePeer(body: Uint8Array): Result<HelloNodePeer> {
  if (body.length < HELLO_NODE_LEN) return reject("body_too_short");
  return accept({ time: readU64(body, 0), shortId: body.slice(8, 12) });
}

export function encodeAck(time: bigint): Uint8Array {
  const out = new Uint8Array(ACK_LEN);
  writeU64(out, 0, time);
  return out;
}

export function decodeAck(body: Uint8Array): Result<bigint> {
  if (body.length < ACK_LEN) return reject("body_too_short");
  return accept(readU64(body, 0));
}

export interface Unite {
  /** The other peer's public key. */
  address: Uint8Array;
  endpoints: Endpoint[];
}

export function encodeUnite(address: Uint8Array, endpoints: readonly Endpoint[] | Uint8Array): Uint8Array {
  const eps = endpoints instanceof Uint8Array ? endpoints : encodeEndpoints(endpoints);
  const out = new Uint8Array(UNITE_FIXED_LEN + eps.length);
  out.set(address.subarray(0, 32), 0);
  out.set(eps, UNITE_FIXED_LEN);
  return out;
}

export function decodeUnite(body: Uint8Array): Result<Unite> {
  if (body.length < UNITE_FIXED_LEN) return reject("body_too_short");
  const b = body.subarray(0, UNITE_MAX_LEN);
  return accept({ address: b.slice(0, 32), endpoints: decodeEndpoints(b.subarray(UNITE_FIXED_LEN)) });
}
