import { createServer, type Server, type Socket } from "node:net";
import type { ListenAddress } from "./config.ts";
import type { DropReason } from "./drops.ts";
import { frame, FrameReader } from "./frame-reader.ts";
import type { Logger } from "./log.ts";
import type { SuperPeer } from "./super-peer.ts";
import type { TcpLink } from "./transport.ts";

/** Outcomes Rust treats as Ok, not as errors, so they must not cost the node its connection. */
const NOT_FATAL = new Set<DropReason>([
  "hop_limit_exceeded",
  "recipient_unknown",
  "recipient_no_hello",
  "recipient_unreachable",
  "udp_payload_too_large",
  "tcp_backpressure",
]);

export interface TcpLimits {
  maxConnections: number;
  maxFrame: number;
  maxBuffered: number;
}

class Connection implements TcpLink {
  readonly id: number;
  readonly remoteAddress: string;
  readonly v6Socket: boolean;
  readonly remotePort: number;
  lastActivity: number;
  private readonly socket: Socket;
  private readonly maxBuffered: number;

  constructor(id: number, socket: Socket, now: number, maxBuffered: number) {
    this.id = id;
    this.socket = socket;
    this.v6Socket = socket.remoteFamily === "IPv6";
    this.remoteAddress = socket.remoteAddress ?? "";
    this.remotePort = socket.remotePort ?? 0;
    this.lastActivity = now;
    this.maxBuffered = maxBuffered;
  }

  get closed(): boolean {
    return this.socket.destroyed;
  }

  send(pkt: Uint8Array): boolean {
    if (this.socket.writableLength + pkt.length + 2 > this.maxBuffered) return false;
    this.socket.write(frame(pkt));
    return true;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** The TCP fallback listeners and their connections, with the limits Rust lacks (protocol.md s5.4). */
export class TcpService {
  private readonly servers: Server[] = [];
  private readonly connections = new Set<Connection>();
  /** The same connections by id, which the shared peer table names them by. */
  private readonly links = new Map<number, Connection>();
  private nextId = 1;
  private readonly sp: SuperPeer;
  private readonly limits: TcpLimits;
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(sp: SuperPeer, limits: TcpLimits, log: Logger, now: () => number = Date.now) {
    this.sp = sp;
    this.limits = limits;
    this.log = log;
    this.now = now;
    sp.tcpLinks = this.links;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  async listen(addr: ListenAddress, v6Only: boolean): Promise<Server> {
    const server = createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: 15_000 }, (socket) =>
      this.accept(socket),
    );
    server.on("error", (err) => this.log.warn("tcp server error", { error: err.message }));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: addr.host, port: addr.port, ipv6Only: v6Only, exclusive: true }, () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.servers.push(server);
    return server;
  }

  private accept(socket: Socket): void {
    if (this.limits.maxConnections > 0 && this.connections.size >= this.limits.maxConnections) {
      this.sp.drops.add("tcp_connection_limit");
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const conn = new Connection(this.nextId, socket, this.now(), this.limits.maxBuffered);
    this.nextId = this.nextId === 0x7fffffff ? 1 : this.nextId + 1;
    this.connections.add(conn);
    this.links.set(conn.id, conn);
    const reader = new FrameReader(
      this.limits.maxFrame,
      (f) => {
        const reason = this.sp.handleTcp(f, conn);
        if (reason === undefined) {
          conn.lastActivity = this.now();
          return true;
        }
        if (NOT_FATAL.has(reason)) return true;
        this.log.debug("closing tcp connection after bad frame", {
          reason,
          src: `${conn.remoteAddress}:${conn.remotePort}`,
        });
        conn.close();
        return false;
      },
      () => this.sp.drops.add("tcp_frame_too_large"),
    );
    socket.on("data", (chunk: Buffer) => reader.feed(chunk));
    socket.on("error", (err) =>
      this.log.debug("tcp connection error", { error: err.message, src: `${conn.remoteAddress}:${conn.remotePort}` }),
    );
    socket.on("close", () => {
      this.connections.delete(conn);
      this.links.delete(conn.id);
    });
  }

  /** Closes connections without a processed frame or a send for `idleMs`: slow, silent and half-open ones. */
  closeIdle(idleMs: number): number {
    const deadline = this.now() - idleMs;
    let closed = 0;
    for (const conn of this.connections) {
      if (conn.lastActivity < deadline) {
        conn.close();
        this.connections.delete(conn);
        this.links.delete(conn.id);
        closed++;
      }
    }
    return closed;
  }

  async close(): Promise<void> {
    for (const conn of this.connections) conn.close();
    this.connections.clear();
    this.links.clear();
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}
