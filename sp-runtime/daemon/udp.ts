import { createSocket, type Socket } from "node:dgram";
import type { ListenAddress } from "./config.ts";
import type { Logger } from "./log.ts";
import type { SuperPeer } from "./super-peer.ts";
import type { UdpSender } from "./transport.ts";

const SOCKET_BUFFER = 4 * 1024 * 1024;

export interface UdpListener extends UdpSender {
  readonly socket: Socket;
  readonly address: ListenAddress;
}

/**
 * Every address the daemon sends to is an IP literal it received a packet from (rinfo, or a TCP
 * peer's remote address), so the lookup dgram runs before each send (dns.lookup: an IP check,
 * then a callback on the next tick) is answered on the spot: one closure and tick less per packet.
 */
function ipLiteral(
  family: 4 | 6,
): (
  address: string,
  options: unknown,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
) => void {
  return (address, _options, callback) => callback(null, address, family);
}

/**
 * dgram's `reusePort` (SO_REUSEPORT: several sockets on one port, the kernel spreads the datagrams
 * over them by source) arrived in Node 22.12.0 and 23.1.0 (nodejs/node#55403). Older Node ignores
 * the option, and a second socket on the port fails with EADDRINUSE.
 */
export function hasReusePort(version = process.versions.node): boolean {
  const [major = 0, minor = 0] = version.split(".").map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

/**
 * Binds one UDP listener. `v6Only` is set when a separate IPv4 socket exists: with Linux's default
 * bindv6only=0 a wildcard [::] socket would otherwise also claim the IPv4 port, and the second bind
 * fails with EADDRINUSE (protocol.md s0.6). `reusePort` lets the other workers' sockets share the
 * port; a single worker binds exclusively, so a second daemon on the port fails loudly.
 */
export async function bindUdp(
  sp: SuperPeer,
  addr: ListenAddress,
  family: 4 | 6,
  v6Only: boolean,
  log: Logger,
  reusePort = false,
): Promise<UdpListener> {
  const socket = createSocket({
    type: family === 4 ? "udp4" : "udp6",
    ipv6Only: family === 6 && v6Only,
    lookup: ipLiteral(family),
    // Not in @types/node 20, which the sources are checked against.
    ...(reusePort ? { reusePort: true } : {}),
  } as Parameters<typeof createSocket>[0]);
  const name = family === 4 ? "udp4" : "udp6";
  const listener: UdpListener = {
    socket,
    address: addr,
    name,
    send(pkt, port, address) {
      socket.send(pkt, port, address);
    },
  };
  socket.on("message", (msg, rinfo) => {
    const reason = sp.handleUdp(msg, listener, rinfo.address, rinfo.port);
    if (reason !== undefined && log.enabled("debug"))
      log.debug("packet dropped", { reason, src: `${rinfo.address}:${rinfo.port}`, prot: "udp" });
  });
  // Without a listener, a failed send (e.g. EPERM from a firewall) would be thrown as an uncaught error.
  socket.on("error", (err) => {
    sp.drops.add("send_failed");
    log.warn("udp socket error", { socket: name, error: err.message });
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind({ address: addr.host, port: addr.port, exclusive: true }, () => {
      socket.off("error", reject);
      resolve();
    });
  });
  try {
    socket.setRecvBufferSize(SOCKET_BUFFER);
    socket.setSendBufferSize(SOCKET_BUFFER);
  } catch (e) {
    log.debug("could not enlarge socket buffers", { error: (e as Error).message });
  }
  sp.addUdp(listener);
  return listener;
}
