import type { SessionKeys } from "../crypto/session.ts";
import { ENDPOINT_LEN } from "../wire/constants.ts";
import { writeEndpoint } from "../wire/endpoints.ts";
import type { Prot, TcpLink, UdpSender } from "./transport.ts";

const NO_ENDPOINTS = new Uint8Array(0);

/** One node known to the super peer. A class, so every peer has the same hidden shape on the hot path. */
export class Peer {
  readonly key: string;
  readonly publicKey: Uint8Array;
  readonly validPow: boolean;
  readonly session: SessionKeys | undefined;
  private hex: string | undefined;

  /** ms (our clock) of the last accepted HELLO; 0 = none yet. */
  helloAt = 0;
  prot: Prot = "udp";
  udp: UdpSender | undefined = undefined;
  address = "";
  port = 0;
  tcp: TcpLink | undefined = undefined;
  /** Raw reported endpoints of the last HELLO, at most 15 x 18 bytes, kept as received. */
  endpoints: Uint8Array = NO_ENDPOINTS;
  /** Distinct non-zero-port entries of `endpoints`, for drasyl_sp_peer_endpoints. */
  distinctEndpoints = 0;
  /** The UDP source as an 18-byte endpoint, recomputed only when the source changes. */
  readonly observed = new Uint8Array(ENDPOINT_LEN);
  private observedFor = "";

  helloRx = 0;
  ackTx = 0;
  appRx = 0;
  appTx = 0;
  uniteTx = 0;
  /** Relayed bytes by recipient, for drasyl_sp_relayed_bytes{src,dst}; created on first relay (most peers never relay). */
  relayedTo: Map<Peer, number> | undefined = undefined;
  /** Last UNITE (ms) per partner, in both directions, for the SEND_UNITES rate limit; created on first UNITE. */
  unitedAt: Map<Peer, number> | undefined = undefined;

  constructor(key: string, publicKey: Uint8Array, validPow: boolean, session: SessionKeys | undefined) {
    this.key = key;
    this.publicKey = publicKey;
    this.validPow = validPow;
    this.session = session;
  }

  get publicKeyHex(): string {
    this.hex ??= Buffer.from(this.publicKey).toString("hex");
    return this.hex;
  }

  setUdpSource(udp: UdpSender, address: string, port: number): void {
    this.prot = "udp";
    this.udp = udp;
    this.tcp = undefined;
    if (this.address !== address || this.port !== port) {
      this.address = address;
      this.port = port;
    }
    const id = `${address}|${port}`;
    if (id !== this.observedFor) {
      writeEndpoint(this.observed, 0, { address, port });
      this.observedFor = id;
    }
  }

  /** Nodes repeat the same endpoints in every HELLO, so the copy and the count happen only on change. */
  setEndpoints(eps: Uint8Array): void {
    const cur = this.endpoints;
    if (cur.length === eps.length) {
      let same = true;
      for (let i = 0; i < eps.length; i++) {
        if (cur[i] !== eps[i]) {
          same = false;
          break;
        }
      }
      if (same) return;
    }
    this.endpoints = eps.slice();
    const seen = new Set<string>();
    for (let off = 0; off + ENDPOINT_LEN <= eps.length; off += ENDPOINT_LEN) {
      if (eps[off] === 0 && eps[off + 1] === 0) continue;
      seen.add(Buffer.from(eps.buffer, eps.byteOffset + off, ENDPOINT_LEN).toString("latin1"));
    }
    this.distinctEndpoints = seen.size;
  }

  setTcpSource(link: TcpLink): void {
    this.prot = "tcp";
    this.tcp = link;
    this.udp = undefined;
    this.address = link.remoteAddress;
    this.port = link.remotePort;
  }

  /** Reported endpoints plus, for UDP, the observed (NAT-mapped) source, appended last (protocol.md s5.2). */
  contactCandidates(out: Uint8Array, off: number): number {
    out.set(this.endpoints, off);
    let n = this.endpoints.length;
    if (this.prot === "udp") {
      out.set(this.observed, off + n);
      n += ENDPOINT_LEN;
    }
    return n;
  }

  /** "ipv4" for IPv4 and IPv4-mapped sources, as the Rust metric labels them. */
  get ipVersion(): "ipv4" | "ipv6" {
    return this.address.includes(":") && !this.address.startsWith("::ffff:") ? "ipv6" : "ipv4";
  }
}
