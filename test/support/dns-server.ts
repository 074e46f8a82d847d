import { createSocket, type Socket } from "node:dgram";
import ipaddr from "ipaddr.js";

/** What the server answers per name (lowercase, no trailing dot); a name not listed is NXDOMAIN. */
export type Zone = Record<string, { A?: string[]; AAAA?: string[] }>;

const TYPE_A = 1;
const TYPE_AAAA = 28;

/**
 * A tiny authoritative DNS server on 127.0.0.1 (UDP, A and AAAA only) for tests that need a name to
 * resolve somewhere specific, without touching /etc/hosts or the machine's resolver. Point the CLI
 * at it with DRASYL_DEPLOY_DNS_SERVER=`server.address`.
 */
export class TestDnsServer {
  readonly queries: string[] = [];

  private constructor(
    private readonly socket: Socket,
    readonly zone: Zone,
  ) {
    socket.on("message", (msg, from) => {
      const reply = this.answer(msg);
      if (reply) socket.send(reply, from.port, from.address);
    });
  }

  static async start(zone: Zone): Promise<TestDnsServer> {
    const socket = createSocket("udp4");
    await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
    return new TestDnsServer(socket, zone);
  }

  get address(): string {
    return `127.0.0.1:${this.socket.address().port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  private answer(query: Buffer): Buffer | undefined {
    if (query.length < 12 || query.readUInt16BE(4) !== 1) return undefined;
    const labels: string[] = [];
    let off = 12;
    while (off < query.length && query[off] !== 0) {
      const len = query[off] as number;
      labels.push(query.subarray(off + 1, off + 1 + len).toString("latin1"));
      off += 1 + len;
    }
    const questionEnd = off + 5;
    if (questionEnd > query.length) return undefined;
    const type = query.readUInt16BE(off + 1);
    const name = labels.join(".").toLowerCase();
    this.queries.push(`${name} ${type === TYPE_A ? "A" : type === TYPE_AAAA ? "AAAA" : type}`);
    const entry = this.zone[name];
    const addresses = (type === TYPE_A ? entry?.A : type === TYPE_AAAA ? entry?.AAAA : undefined) ?? [];
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2);
    // Response, authoritative, recursion desired copied, recursion available; NXDOMAIN for unknown names.
    header.writeUInt16BE(0x8480 | (query.readUInt16BE(2) & 0x0100) | (entry ? 0 : 3), 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(addresses.length, 6);
    const answers = addresses.map((a) => {
      const rdata = Buffer.from(ipaddr.parse(a).toByteArray());
      const rr = Buffer.alloc(12);
      rr.writeUInt16BE(0xc00c, 0);
      rr.writeUInt16BE(type, 2);
      rr.writeUInt16BE(1, 4);
      rr.writeUInt32BE(5, 6);
      rr.writeUInt16BE(rdata.length, 10);
      return Buffer.concat([rr, rdata]);
    });
    return Buffer.concat([header, query.subarray(12, questionEnd), ...answers]);
  }
}
