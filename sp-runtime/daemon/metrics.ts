import { timingSafeEqual } from "node:crypto";
import { createServer, type Server } from "node:http";
import { collectDefaultMetrics, Counter, Gauge, type Metric, Registry } from "prom-client";
import type { ListenAddress } from "./config.ts";
import { DROP_REASONS } from "./drops.ts";
import type { Logger } from "./log.ts";
import { PeerCounter } from "./peer-table.ts";
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
              this.set(
                { peer: p.publicKeyHex, ip_version: ip, transport },
                p.ipVersion === ip && p.prot === transport ? 1 : 0,
              );
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
        const kinds = [
          [PeerCounter.HelloRx, "hello", "rx"],
          [PeerCounter.AckTx, "ack", "tx"],
          [PeerCounter.AppRx, "app", "rx"],
          [PeerCounter.AppTx, "app", "tx"],
          [PeerCounter.UniteTx, "unite", "tx"],
        ] as const;
        for (const p of sp.peers.values()) {
          const peer = p.publicKeyHex;
          for (const [c, type, direction] of kinds) {
            const n = p.counter(c);
            if (n) this.inc({ type, peer, direction }, n);
          }
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
        const pairs = sp.pairs;
        for (let e = 0; e < pairs.size; e++) {
          const bytes = pairs.bytes[e] as number;
          if (bytes > 0)
            this.inc(
              { src: sp.peers.view(pairs.source(e)).publicKeyHex, dst: sp.peers.view(pairs.target(e)).publicKeyHex },
              bytes,
            );
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
      name: "drasyl_sp_worker_packets_total",
      help: "UDP datagrams received, per worker thread (DRASYL_WORKERS)",
      labelNames: ["worker"] as const,
      registers,
      collect() {
        this.reset();
        sp.workerPackets().forEach((n, worker) => this.inc({ worker: String(worker) }, n));
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
const STRIDE = ENDPOINT_BUCKETS.length + 2;

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
  /**
   * Per peer slot, STRIDE numbers: count per bucket (not cumulative), then +Inf, then the sum.
   * `owner` holds the slot's generation + 1 the counts belong to (0 = none), so a slot reused by a
   * new peer starts from zero.
   */
  private counts = new Float64Array(0);
  private owner = new Float64Array(0);
  private readonly sp: SuperPeer;

  constructor(sp: SuperPeer) {
    this.sp = sp;
  }

  tick(): void {
    const peers = this.sp.peers;
    if (this.owner.length < peers.capacity) {
      const counts = new Float64Array(peers.capacity * STRIDE);
      counts.set(this.counts);
      const owner = new Float64Array(peers.capacity);
      owner.set(this.owner);
      this.counts = counts;
      this.owner = owner;
    }
    for (let s = 0; s < peers.highWater; s++) {
      const gen = (peers.gen[s] as number) + 1;
      if (!peers.isUsed(s)) {
        this.owner[s] = 0;
        continue;
      }
      if (peers.helloAt[s] === 0) continue;
      const base = s * STRIDE;
      if (this.owner[s] !== gen) {
        this.counts.fill(0, base, base + STRIDE);
        this.owner[s] = gen;
      }
      const n = peers.distinctEndpoints[s] as number;
      let i = 0;
      while (i < ENDPOINT_BUCKETS.length && n > (ENDPOINT_BUCKETS[i] as number)) i++;
      this.counts[base + i] = (this.counts[base + i] as number) + 1;
      this.counts[base + STRIDE - 1] = (this.counts[base + STRIDE - 1] as number) + n;
    }
  }

  get(): { name: string; help: string; type: string; aggregator: string; values: MetricValue[] } {
    const values: MetricValue[] = [];
    const peers = this.sp.peers;
    for (let s = 0; s < Math.min(peers.highWater, this.owner.length); s++) {
      if (this.owner[s] !== (peers.gen[s] as number) + 1 || !peers.isUsed(s)) continue;
      const peer = peers.view(s).publicKeyHex;
      const c = this.counts.subarray(s * STRIDE, s * STRIDE + STRIDE);
      let cumulative = 0;
      for (let i = 0; i <= ENDPOINT_BUCKETS.length; i++) {
        cumulative += c[i] as number;
        const le = i < ENDPOINT_BUCKETS.length ? (ENDPOINT_BUCKETS[i] as number) : "+Inf";
        values.push({ metricName: `${this.name}_bucket`, labels: { peer, le }, value: cumulative });
      }
      values.push({
        metricName: `${this.name}_sum`,
        labels: { peer },
        value: c[ENDPOINT_BUCKETS.length + 1] as number,
      });
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
