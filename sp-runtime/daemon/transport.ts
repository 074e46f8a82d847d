/** What the packet logic needs from a socket; implemented by udp.ts and tcp.ts, so the logic stays socket-free. */

export interface UdpSender {
  /** "udp4"/"udp6" of the socket, not of the peer: a dual-stack socket carries both. */
  readonly name: string;
  send(pkt: Uint8Array, port: number, address: string): void;
}

export interface TcpLink {
  /** Names the connection in the shared peer table (> 0). */
  readonly id: number;
  readonly remoteAddress: string;
  /** Accepted on an IPv6 socket (IPv4 peers then appear as ::ffff:a.b.c.d). */
  readonly v6Socket: boolean;
  readonly remotePort: number;
  readonly closed: boolean;
  /** ms timestamp of the last processed inbound frame or outbound send. */
  lastActivity: number;
  /** Frames and queues the packet; false when it was dropped because the reader is too slow. */
  send(pkt: Uint8Array): boolean;
  close(): void;
}

export type Prot = "udp" | "tcp";
