/** The figures `status --metrics` shows per super peer, from one scrape of its /metrics. */
export interface KeyFigures {
  peers: number;
  tcpConnections: number;
  /** Counters since the daemon started. */
  hellosReceived: number;
  relayedBytes: number;
  relayedPackets: number;
  unitesSent: number;
  droppedPackets: number;
  rssBytes: number;
  cpuSeconds: number;
  /** Seconds since the daemon process started, at the time of the scrape. */
  uptimeSeconds: number;
}

const SAMPLE =
  /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s+([-+]?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+|NaN|Inf))(?:\s+-?\d+)?\s*$/;

/** Samples of the Prometheus text format: name, labels, value; comments and malformed lines are skipped. */
export function parseSamples(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const out: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = SAMPLE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    const raw = m[3] as string;
    out.push({
      name: m[1] as string,
      labels,
      value: raw.endsWith("Inf") ? (raw.startsWith("-") ? -Infinity : Infinity) : Number(raw),
    });
  }
  return out;
}

/** The key figures of one scrape, on the daemon's metric names; `nowSeconds` is the scrape time. */
export function keyFigures(text: string, nowSeconds: number): KeyFigures {
  const samples = parseSamples(text);
  const sum = (name: string, match: Record<string, string> = {}): number =>
    samples
      .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
      .reduce((a, s) => a + s.value, 0);
  const start = sum("process_start_time_seconds");
  return {
    peers: sum("drasyl_sp_peers"),
    tcpConnections: sum("drasyl_sp_tcp_connections"),
    hellosReceived: sum("drasyl_sp_messages_total", { type: "hello", direction: "rx" }),
    relayedBytes: sum("drasyl_sp_relayed_bytes_total"),
    relayedPackets: sum("drasyl_sp_messages_total", { type: "app", direction: "tx" }),
    unitesSent: sum("drasyl_sp_messages_total", { type: "unite", direction: "tx" }),
    droppedPackets: sum("drasyl_sp_dropped_packets_total"),
    rssBytes: sum("process_resident_memory_bytes"),
    cpuSeconds: sum("process_cpu_seconds_total"),
    uptimeSeconds: start > 0 ? Math.max(0, Math.round(nowSeconds - start)) : 0,
  };
}
