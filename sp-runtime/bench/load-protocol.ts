/**
 * What the bench runner (load.ts) and the load generator child (load-worker.ts) say to each other
 * over the fork IPC channel, plus the small statistics helper both use. Types only cross the
 * boundary as JSON, so everything here is plain data.
 */

export interface InitRequest {
  spPublicKeyHex: string;
  /** Where the daemon's UDP4 listener is bound (on 127.0.0.1). */
  spPort: number;
  /** How many simulated peers to create keys for. */
  peers: number;
  /** UDP sockets the HELLO load is spread over; peer i always uses socket i % sockets. */
  sockets: number;
  keygenThreads: number;
}

export interface InitResult {
  peers: number;
  keygenMs: number;
  keygenUsPerPeer: number;
}

/** Closed loop: register peers [registered, upTo) with one HELLO each, at most `window` unanswered. */
export interface RegisterRequest {
  upTo: number;
  window: number;
  /** An unanswered HELLO is resent after this long. */
  retryMs: number;
  /** Give up (and fail the bench) after this long. */
  maxMs: number;
}

/** Open loop: peers [0, peers) each send one HELLO every intervalMs, spread evenly. */
export interface SteadyRequest {
  peers: number;
  intervalMs: number;
  durationMs: number;
}

/** Closed loop over already registered peers [0, peers): as many HELLOs as the daemon answers. */
export interface BlastRequest {
  peers: number;
  window: number;
  durationMs: number;
}

/**
 * APP packets over `pairs` pairs of peers, both directions. "relay": A -> daemon -> B, after both
 * sent a HELLO from their own socket. "echo": A -> echo server -> A, the ceiling. With `pps` the
 * load is paced (latency at light load); without, each flow keeps `window` packets in flight.
 */
export interface FlowRequest {
  mode: "relay" | "echo";
  port: number;
  pairs: number;
  packetSize: number;
  durationMs: number;
  warmupMs: number;
  window: number;
  pps?: number;
}

/** Common to every load phase: how busy the generator itself was, to tell when it is the bottleneck. */
export interface PhaseStats {
  /** The measured window in wall-clock ms (performance.timeOrigin based, comparable across processes). */
  startWallMs: number;
  endWallMs: number;
  durationS: number;
  /** Generator process CPU (user+system) over the phase, % of one core. */
  generatorCpuPct: number;
  sendErrors: number;
}

export interface LatencyStats {
  p50Us: number;
  p99Us: number;
  /** Shows stalls of the daemon's event loop (housekeeping, GC) that are too rare for p99. */
  p999Us: number;
  maxUs: number;
  samples: number;
}

export interface HandshakeResult extends PhaseStats, LatencyStats {
  sent: number;
  acked: number;
  /** ACKs per second over the phase. */
  ackPerSec: number;
  /** HELLOs resent (register) or given up on (blast, steady) because no ACK came back. */
  lost: number;
  /** ACKs that failed to open or echoed a time we did not send: must stay 0. */
  badAcks: number;
}

export interface SteadyResult extends HandshakeResult {
  helloPerSec: number;
}

export interface FlowResult extends PhaseStats, LatencyStats {
  mode: "relay" | "echo";
  packetSize: number;
  sent: number;
  received: number;
  pps: number;
  mbitPerSec: number;
  lossPct: number;
  /** Packets whose hop count was not what the path should produce (1 via the daemon, 0 via echo). */
  hopMismatch: number;
  /** UNITEs the daemon sent to the relay peers meanwhile (SEND_UNITES rate limit). */
  unites: number;
}

/** Known peers' pre-built HELLOs from blaster threads, as fast as the daemon answers (blaster.ts). */
export interface SaturateHelloRequest {
  peers: number;
  threads: number;
  socketsPerThread: number;
  /** Outstanding HELLOs per socket. */
  window: number;
  warmupMs: number;
  durationMs: number;
}

/** Relayed APP between peer pairs on blaster threads, each peer on its own socket. */
export interface SaturateRelayRequest {
  threads: number;
  pairsPerThread: number;
  packetSize: number;
  /** Outstanding packets per direction of a pair. */
  window: number;
  warmupMs: number;
  durationMs: number;
}

export interface SaturateResult extends PhaseStats {
  threads: number;
  sent: number;
  received: number;
  /** ACKs (HELLO mode) or relayed packets per second. */
  perSec: number;
  /** Windows reopened after 200 ms without a reply: packets the daemon (or its socket) dropped. */
  stalls: number;
}

export interface GenOps {
  init: { req: InitRequest; res: InitResult };
  register: { req: RegisterRequest; res: HandshakeResult };
  steady: { req: SteadyRequest; res: SteadyResult };
  blast: { req: BlastRequest; res: HandshakeResult };
  flows: { req: FlowRequest; res: FlowResult };
  saturateHello: { req: SaturateHelloRequest; res: SaturateResult };
  saturateRelay: { req: SaturateRelayRequest; res: SaturateResult };
}
export type GenOp = keyof GenOps;

export interface GenCall<K extends GenOp = GenOp> {
  id: number;
  op: K;
  req: GenOps[K]["req"];
}

export type GenMessage = { id: number; kind: "result"; res: unknown } | { id: number; kind: "error"; error: string };

/**
 * Latency samples with a fixed memory bound: reservoir sampling keeps a uniform sample once more
 * than `capacity` values arrived, so percentiles stay unbiased however long a phase runs.
 */
export class Samples {
  private readonly buf: Float64Array;
  private n = 0;
  private seen = 0;
  private max = 0;

  constructor(capacity = 200_000) {
    this.buf = new Float64Array(capacity);
  }

  add(v: number): void {
    this.seen++;
    if (v > this.max) this.max = v;
    if (this.n < this.buf.length) {
      this.buf[this.n++] = v;
      return;
    }
    const j = Math.floor(Math.random() * this.seen);
    if (j < this.buf.length) this.buf[j] = v;
  }

  stats(): LatencyStats {
    const sorted = this.buf.slice(0, this.n).sort();
    const at = (p: number): number =>
      this.n === 0 ? NaN : round1(sorted[Math.min(this.n - 1, Math.ceil(p * this.n) - 1)] as number);
    return { p50Us: at(0.5), p99Us: at(0.99), p999Us: at(0.999), maxUs: round1(this.max), samples: this.seen };
  }
}

export function round1(v: number): number {
  return Math.round(v * 10) / 10;
}

export function round2(v: number): number {
  return Math.round(v * 100) / 100;
}
