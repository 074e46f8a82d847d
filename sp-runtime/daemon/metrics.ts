import { timingSafeEqual } from "node:crypto";
import { createServer, type Server } from "node:http";
import { collectDefaultMetrics, Counter, Gauge, type Metric, Registry } from "prom-client";
import type { ListenAddress } from "./config.ts";
import { DROP_REASONS } from "./drops.ts";
import type { Logger } from "./log.ts";
import type { Peer } from "./peer.ts";
import type { SuperPeer } from "./super-peer.ts";
import type { TcpService } from "./tcp.ts";

/**
 * Prometheus metrics with the Rust names (protocol.md s5.8) plus drops by reason, relayed bytes and
 * process metrics. The packet path only bumps plain numbers on Peer and SuperPeer; prom-client
 * reads them at scrape time, so a labelled-metric lookup never runs per packet.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly sp: SuperPeer;
  private readonly endpoints: EndpointsHistogram;

  constructor(sp: SuperPeer, tcp: TcpService | undefined) {
    this.sp = sp;
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });

    new Gauge({
      name: "drasyl_sp_peers",
      help: "Number of known peers",
      registers,
      collect() {
        this.set(sp.peers.size);
      },
    });
    new Gauge({
      name: "drasyl_sp_peer_paths",
      help: "Path of each peer's last HELLO (1) among the four transport/family combinations",
      labelNames: ["peer", "ip_version", "transport"] as const,
      registers,
      collect() {
        this.reset();
        for (const p of sp.peers.values()) {
          if (p.helloAt === 0) continue;
          for (const ip of ["ipv4", "ipv6"] as const) {
            for (const transport of ["tcp", "udp"] as const) {
              this.set({ peer: p.publicKeyHex, ip_version: ip, transport }, p.ipVersion === ip && p.prot === transport ? 1 : 0);
            }
          }
        }
      },
    });
    this.endpoints = new EndpointsHistogram(sp);
    this.registry.registerMetric(this.endpoints as unknown as Metric);
    new Counter({
      name: "drasyl_sp_messages",
      help: "Messages by type, peer and direction",
      labelNames: ["type", "peer", "direction"] as const,
      registers,
      collect() {
        this.reset();
        for (const p of sp.peers.values()) {
          const peer = p.publicKeyHex;
          if (p.helloRx) this.inc({ type: "hello", peer, direction: "rx" }, p.helloRx);
          if (p.ackTx) this.inc({ type: "ack", peer, direction: "tx" }, p.ackTx);
          if (p.appRx) this.inc({ type: "app", peer, direction: "rx" }, p.appRx);
          if (p.appTx) this.inc({ type: "app", peer, direction: "tx" }, p.appTx);
          if (p.uniteTx) this.inc({ type: "unite", peer, direction: "tx" }, p.uniteTx);
        }
      },
    });
    new Counter({
      name: "drasyl_sp_relayed_bytes",
      help: "Relayed bytes (whole packets) by source and destination peer",
      labelNames: ["src", "dst"] as const,
      registers,
      collect() {
        this.reset();
        for (const p of sp.peers.values()) {
          for (const [dst, bytes] of p.relayedTo ?? []) this.inc({ src: p.publicKeyHex, dst: dst.publicKeyHex }, bytes);
        }
      },
    });
    new Counter({
      name: "drasyl_sp_messages_total",
      help: "Messages by type and direction, including those of peers since evicted",
      labelNames: ["type", "direction"] as const,
      registers,
      collect() {
        this.reset();
        const t = sp.totals;
        this.inc({ type: "hello", direction: "rx" }, t.helloRx);
        this.inc({ type: "ack", direction: "tx" }, t.ackTx);
        this.inc({ type: "app", direction: "rx" }, t.appRx);
        this.inc({ type: "app", direction: "tx" }, t.appTx);
        this.inc({ type: "unite", direction: "tx" }, t.uniteTx);
      },
    });
    new Counter({
      name: "drasyl_sp_relayed_bytes_total",
      help: "Bytes relayed in total",
      registers,
      collect() {
        this.reset();
        this.inc(sp.totals.relayedBytes);
      },
    });
    new Counter({
      name: "drasyl_sp_dropped_packets_total",
      help: "Packets dropped, by reason",
      labelNames: ["reason"] as const,
      registers,
      collect() {
        this.reset();
        for (const reason of DROP_REASONS) this.inc({ reason }, sp.drops.get(reason));
      },
    });
    new Counter({
      name: "drasyl_sp_evicted_peers_total",
      help: "Peers removed after HELLO_TIMEOUT without a HELLO",
      registers,
      collect() {
        this.reset();
        this.inc(sp.totals.evicted);
      },
    });
    new Gauge({
      name: "drasyl_sp_tcp_connections",
      help: "Open TCP fallback connections",
      registers,
      collect() {
        this.set(tcp?.connectionCount ?? 0);
      },
    });
  }

  /** Called once per housekeeping tick, after eviction, like the Rust gauges refresh. */
  tick(): void {
    this.endpoints.tick();
  }
}

const ENDPOINT_BUCKETS = [0, 1, 2, 3, 5, 7, 10, 15];

interface MetricValue {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

/**
 * drasyl_sp_peer_endpoints{peer}: one observation per peer per tick, as in Rust. Kept as plain
 * per-peer bucket arrays: prom-client's labelled observe() took 15 ms per tick at 10k peers
 * (77 ms at 50k), stalling the packet path; this takes well under a millisecond. prom-client
 * still renders it, through the metric interface its registry reads.
 */
class EndpointsHistogram {
  readonly name = "drasyl_sp_peer_endpoints";
  readonly help = "Distinct endpoints reported per peer, observed once per housekeeping tick";
  readonly type = "histogram";
  readonly aggregator = "sum";
  /** Per peer: count per bucket (not cumulative), then +Inf, then the sum. */
  private readonly counts = new Map<Peer, Float64Array>();
  private readonly sp: SuperPeer;

  constructor(sp: SuperPeer) {
    this.sp = sp;
  }

  tick(): void {
    for (const p of this.sp.peers.values()) {
      if (p.helloAt === 0) continue;
      let c = this.counts.get(p);
      if (c === undefined) {
        c = new Float64Array(ENDPOINT_BUCKETS.length + 2);
        this.counts.set(p, c);
      }
      const n = p.distinctEndpoints;
      let i = 0;
      while (i < ENDPOINT_BUCKETS.length && n > (ENDPOINT_BUCKETS[i] as number)) i++;
      c[i] = (c[i] as number) + 1;
      c[ENDPOINT_BUCKETS.length + 1] = (c[ENDPOINT_BUCKETS.length + 1] as number) + n;
    }
    for (const p of this.counts.keys()) if (this.sp.peers.get(p.key) !== p) this.counts.delete(p);
  }

  get(): { name: string; help: string; type: string; aggregator: string; values: MetricValue[] } {
    const values: MetricValue[] = [];
    for (const [p, c] of this.counts) {
      const peer = p.publicKeyHex;
      let cumulative = 0;
      for (let i = 0; i <= ENDPOINT_BUCKETS.length; i++) {
        cumulative += c[i] as number;
        const le = i < ENDPOINT_BUCKETS.length ? (ENDPOINT_BUCKETS[i] as number) : "+Inf";
        values.push({ metricName: `${this.name}_bucket`, labels: { peer, le }, value: cumulative });
      }
      values.push({ metricName: `${this.name}_sum`, labels: { peer }, value: c[ENDPOINT_BUCKETS.length + 1] as number });
      values.push({ metricName: `${this.name}_count`, labels: { peer }, value: cumulative });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const expected = Buffer.from(`Bearer ${token}`);
  const given = Buffer.from(header ?? "");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** /metrics over HTTP/1 without keep-alive and with a 10 s timeout, like the Rust exporter. */
export async function serveMetrics(metrics: Metrics, addr: ListenAddress, token: string, log: Logger): Promise<Server> {
  const server = createServer({ keepAlive: false, requestTimeout: 10_000 }, (req, res) => {
    res.setHeader("Connection", "close");
    const path = (req.url ?? "").split("?")[0];
    if (req.method !== "GET" || path !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    if (token !== "" && !tokenMatches(req.headers.authorization, token)) {
      res.writeHead(401, { "WWW-Authenticate": "Bearer" }).end();
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { "Content-Type": metrics.registry.contentType }).end(text),
      (err: Error) => {
        log.warn("metrics collection failed", { error: err.message });
        res.writeHead(500).end();
      },
    );
  });
  server.setTimeout(10_000, (socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: addr.host, port: addr.port }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (err) => log.warn("metrics server error", { error: err.message }));
  return server;
}
