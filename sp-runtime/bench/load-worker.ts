/**
 * The load generator: a child process (forked by load.ts) that plays many drasyl nodes against a
 * super peer over loopback UDP. It runs one phase at a time on request and answers with numbers.
 *
 * Why a separate process: the daemon and the generator must not share an event loop, or the
 * generator's work would be billed to the daemon and each would delay the other's packets.
 *
 * Simulated peers are rows in a key slab (keygen.ts), not objects: 50k peers cost 6.4 MB here.
 * The HELLO load of many peers shares a few sockets (peer i always uses socket i % n, so its
 * address is stable); a relayed pair needs a socket per peer, because a peer's UDP source is where
 * the daemon relays to.
 *
 * Latency of a HELLO is measured without any per-packet bookkeeping: the HELLO carries our own
 * µs wall-clock send time (a valid drasyl timestamp, just more precise than nowMicros()), the ACK
 * echoes it, and we open every ACK with the peer's rx key to read it back. That also checks every
 * ACK is well-formed and correctly armed. APP packets carry their send time in the payload.
 *
 * Nothing here loops without bound: every phase has a duration or a deadline, and the process
 * exits when the runner disconnects or after MAX_LIFETIME_MS, whichever comes first.
 */
import { randomFillSync } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { performance } from "node:perf_hooks";
import { computeSessionKeys } from "../crypto/session.ts";
import { ed25519PublicToX25519 } from "../crypto/keys.ts";
import { hexToBytes } from "../util/hex.ts";
import { ARMED_BODY_START, armPacket, disarmPacket } from "../wire/arming.ts";
import {
  ACK_LEN,
  ENDPOINT_LEN,
  HEADER_LEN,
  MAGIC,
  MessageType,
  OFF_HOP_COUNT,
  OFF_RECIPIENT,
  OFF_SENDER,
  OFF_TYPE,
} from "../wire/constants.ts";
import { writeEndpoint } from "../wire/endpoints.ts";
import { readU32, writeHeader, writeU32 } from "../wire/header.ts";
import { buildPacket } from "../wire/packet.ts";
import { blast, type BlastSocketSpec, type BlastSpec } from "./blaster.ts";
import { checkPeerKeys, generatePeerKeys, type PeerKeys } from "./keygen.ts";
import {
  type BlastRequest,
  type FlowRequest,
  type FlowResult,
  type GenCall,
  type GenMessage,
  type GenOp,
  type GenOps,
  type HandshakeResult,
  type InitRequest,
  type InitResult,
  type PhaseStats,
  type RegisterRequest,
  round1,
  type SaturateHelloRequest,
  type SaturateRelayRequest,
  type SaturateResult,
  Samples,
  type SteadyRequest,
  type SteadyResult,
} from "./load-protocol.ts";

const MAX_LIFETIME_MS = 8 * 60_000;
const LOOPBACK = "127.0.0.1";
const SOCKET_BUFFER = 4 * 1024 * 1024;
/** HELLO body: time, child time, one endpoint (our socket) = the 161-byte armed HELLO of a real node. */
const HELLO_BODY_LEN = 16 + ENDPOINT_LEN;
const HELLO_LEN = ARMED_BODY_START + HELLO_BODY_LEN;
/** APP payload stamp: send time (f64, ms of performance.now()) and flow number (u32). */
const STAMP_TIME = ARMED_BODY_START;
const STAMP_FLOW = ARMED_BODY_START + 8;
const MIN_APP_SIZE = STAMP_FLOW + 4;
/** An ACK later than this is certainly not for a HELLO we sent in this run. */
const MAX_PLAUSIBLE_LATENCY_US = 60_000_000;

/** µs since the epoch at sub-ms resolution: Date.now() alone would quantise every latency to 1 ms. */
function wallMicros(): number {
  return Math.floor((performance.timeOrigin + performance.now()) * 1000);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function bindSocket(): Promise<Socket> {
  const s = createSocket("udp4");
  await new Promise<void>((resolve, reject) => {
    s.once("error", reject);
    s.bind(0, LOOPBACK, () => {
      s.off("error", reject);
      resolve();
    });
  });
  // Same buffer sizes as the daemon and the echo server, so neither side is the odd one out.
  s.setRecvBufferSize(SOCKET_BUFFER);
  s.setSendBufferSize(SOCKET_BUFFER);
  return s;
}

interface Phase {
  t0: number;
  cpu: NodeJS.CpuUsage;
  sendErrors: number;
}

interface Flow {
  id: number;
  send: Socket;
  template: Uint8Array;
  sent: number;
  received: number;
  /** Declared lost by the watchdog, so the window does not stay clogged by drops. */
  lost: number;
  seenAtLastCheck: number;
}

class Generator {
  private keys: PeerKeys | undefined;
  private spPort = 0;
  private readonly header = new Uint8Array(HEADER_LEN);
  private readonly index = new Map<string, number>();
  /** Sockets the many-peer HELLO load is spread over, and the endpoint each reports. */
  private sockets: Socket[] = [];
  private endpoints: Uint8Array[] = [];
  /** One socket per relay peer (peer i = flow peer i), created on first use. */
  private readonly peerSockets: Socket[] = [];
  private readonly peerEndpoints: Uint8Array[] = [];
  private registered = 0;
  private onAck: (peer: number, latencyUs: number) => void = () => undefined;
  private onApp: (msg: Buffer) => void = () => undefined;
  private badAcks = 0;
  private sendErrors = 0;
  private unites = 0;
  private readonly random = new Uint8Array(32 * 1024);
  private randomPos = this.random.length;

  async init(req: InitRequest): Promise<InitResult> {
    const spPk = hexToBytes(req.spPublicKeyHex, 32);
    const spX = ed25519PublicToX25519(spPk);
    this.spPort = req.spPort;
    const t0 = performance.now();
    const keys = await generatePeerKeys(req.peers, spX, req.keygenThreads);
    const keygenMs = performance.now() - t0;
    checkPeerKeys(keys, spX);
    this.keys = keys;
    for (let i = 0; i < keys.count; i++) this.index.set(Buffer.from(keys.publicKey(i)).toString("latin1"), i);
    writeHeader(this.header, {
      hopCount: 0,
      armed: true,
      networkId: 1,
      recipient: spPk,
      sender: new Uint8Array(32),
      pow: 0,
      type: MessageType.Hello,
    });
    for (let s = 0; s < req.sockets; s++) {
      const socket = await bindSocket();
      this.watch(socket);
      this.sockets.push(socket);
      this.endpoints.push(this.endpointOf(socket));
    }
    return {
      peers: keys.count,
      keygenMs: Math.round(keygenMs),
      keygenUsPerPeer: round1((keygenMs * 1000) / keys.count),
    };
  }

  private endpointOf(socket: Socket): Uint8Array {
    const ep = new Uint8Array(ENDPOINT_LEN);
    writeEndpoint(ep, 0, { address: LOOPBACK, port: socket.address().port });
    return ep;
  }

  private watch(socket: Socket): void {
    socket.on("message", (msg) => this.dispatch(msg));
    socket.on("error", () => this.sendErrors++);
  }

  private get peerKeys(): PeerKeys {
    if (!this.keys) throw new Error("generator not initialised");
    return this.keys;
  }

  private dispatch(msg: Buffer): void {
    if (msg.length < HEADER_LEN || readU32(msg, 0) !== MAGIC) return;
    const type = msg[OFF_TYPE];
    if (type === MessageType.Ack) this.ack(msg);
    else if (type === MessageType.App) this.onApp(msg);
    else if (type === MessageType.Unite) this.unites++;
  }

  private ack(msg: Buffer): void {
    const i = this.index.get(msg.toString("latin1", OFF_RECIPIENT, OFF_RECIPIENT + 32));
    if (i === undefined) {
      this.badAcks++;
      return;
    }
    const opened = disarmPacket(msg, this.peerKeys.rx(i));
    if (!opened.ok || opened.value.length !== ACK_LEN) {
      this.badAcks++;
      return;
    }
    const latency = wallMicros() - (readU32(opened.value, 0) * 0x1_0000_0000 + readU32(opened.value, 4));
    if (latency < 0 || latency > MAX_PLAUSIBLE_LATENCY_US) {
      this.badAcks++;
      return;
    }
    this.onAck(i, latency);
  }

  /** The arming random comes from a pool, as the daemon does, so we do not pay an OS call per packet. */
  private nextRandom(): Uint8Array {
    if (this.randomPos + 32 > this.random.length) {
      randomFillSync(this.random);
      this.randomPos = 0;
    }
    this.randomPos += 32;
    return this.random.subarray(this.randomPos - 32, this.randomPos);
  }

  /** A fresh armed HELLO_SUPER_PEER from peer i, reporting `endpoint`. */
  private buildHello(i: number, endpoint: Uint8Array): Buffer {
    const keys = this.peerKeys;
    const pkt = Buffer.allocUnsafe(HELLO_LEN);
    pkt.set(this.header, 0);
    pkt.set(keys.publicKey(i), OFF_SENDER);
    const t = wallMicros();
    writeU32(pkt, ARMED_BODY_START, Math.floor(t / 0x1_0000_0000));
    writeU32(pkt, ARMED_BODY_START + 4, t >>> 0);
    writeU32(pkt, ARMED_BODY_START + 8, 0);
    writeU32(pkt, ARMED_BODY_START + 12, 1);
    pkt.set(endpoint, ARMED_BODY_START + 16);
    armPacket(pkt, keys.tx(i), this.nextRandom());
    return pkt;
  }

  /** A fresh HELLO from peer i, sent from its socket. */
  private sendHello(i: number, socket?: Socket, endpoint?: Uint8Array): void {
    const s = i % this.sockets.length;
    (socket ?? (this.sockets[s] as Socket)).send(
      this.buildHello(i, endpoint ?? (this.endpoints[s] as Uint8Array)),
      this.spPort,
      LOOPBACK,
    );
  }

  /**
   * Known peers' HELLOs as fast as the daemon answers, from `threads` blaster threads with pre-built
   * packets (blaster.ts); peer i goes to thread i % threads. The peers' UDP sources move to the
   * blaster's sockets, which no later phase depends on.
   */
  async saturateHello(req: SaturateHelloRequest): Promise<SaturateResult> {
    const n = Math.min(req.peers, this.registered);
    const anyEndpoint = this.endpoints[0] as Uint8Array;
    const workers: BlastSocketSpec[][] = Array.from({ length: req.threads }, () =>
      Array.from({ length: req.socketsPerThread }, (_, s) => ({ packets: [] as Uint8Array[], output: s })),
    );
    for (let i = 0; i < n; i++) {
      const t = i % req.threads;
      const sockets = workers[t] as BlastSocketSpec[];
      (sockets[Math.floor(i / req.threads) % req.socketsPerThread] as BlastSocketSpec).packets.push(
        this.buildHello(i, anyEndpoint),
      );
    }
    return this.saturate({
      port: this.spPort,
      replyType: MessageType.Ack,
      window: req.window,
      warmupMs: req.warmupMs,
      durationMs: req.durationMs,
      workers,
    });
  }

  /**
   * Relayed APP as fast as the daemon forwards it: `pairsPerThread` peer pairs per blaster thread,
   * each peer on its own socket, registered there with one HELLO, both directions in flight.
   */
  async saturateRelay(req: SaturateRelayRequest): Promise<SaturateResult> {
    const keys = this.peerKeys;
    const payload = new Uint8Array(req.packetSize - ARMED_BODY_START);
    randomFillSync(payload);
    const zeroEndpoint = new Uint8Array(ENDPOINT_LEN);
    const workers: BlastSocketSpec[][] = [];
    let peer = 0;
    for (let t = 0; t < req.threads; t++) {
      const sockets: BlastSocketSpec[] = [];
      for (let p = 0; p < req.pairsPerThread; p++) {
        const ia = peer++;
        const ib = peer++;
        const a = keys.identity(ia);
        const b = keys.identity(ib);
        const app = (from: typeof a, to: typeof a): Uint8Array =>
          buildPacket(
            {
              hopCount: 0,
              networkId: 1,
              recipient: to.publicKey,
              sender: from.publicKey,
              pow: 0,
              type: MessageType.App,
            },
            payload,
            {
              txKey: computeSessionKeys(from.xPublic, from.xSecret, to.xPublic).tx,
            },
          );
        // Socket 2p is a, 2p+1 is b: what arrives at b came from a, so b's packets leave from a.
        sockets.push({ packets: [app(b, a)], output: 2 * p + 1, hello: this.buildHello(ia, zeroEndpoint) });
        sockets.push({ packets: [app(a, b)], output: 2 * p, hello: this.buildHello(ib, zeroEndpoint) });
      }
      workers.push(sockets);
    }
    return this.saturate({
      port: this.spPort,
      replyType: MessageType.App,
      window: req.window,
      warmupMs: req.warmupMs,
      durationMs: req.durationMs,
      workers,
    });
  }

  private async saturate(spec: BlastSpec): Promise<SaturateResult> {
    const phase = this.begin();
    const r = await blast(spec);
    const stats = this.end(phase);
    // The CPU figure of the whole phase (threads included) stands for the measured window.
    return {
      ...stats,
      startWallMs: r.startWallMs,
      endWallMs: r.endWallMs,
      durationS: Math.round((r.endWallMs - r.startWallMs) / 10) / 100,
      received: r.received,
      sent: r.sent,
      perSec: r.perSec,
      stalls: r.stalls,
      threads: spec.workers.length,
    };
  }

  private begin(): Phase {
    return { t0: performance.now(), cpu: process.cpuUsage(), sendErrors: this.sendErrors };
  }

  private end(p: Phase, t1 = performance.now()): PhaseStats {
    const cpu = process.cpuUsage(p.cpu);
    const wallMs = t1 - p.t0;
    return {
      startWallMs: performance.timeOrigin + p.t0,
      endWallMs: performance.timeOrigin + t1,
      durationS: Math.round(wallMs / 10) / 100,
      generatorCpuPct: round1(((cpu.user + cpu.system) / 1000 / wallMs) * 100),
      sendErrors: this.sendErrors - p.sendErrors,
    };
  }

  /**
   * Closed loop: at most `window` HELLOs unanswered. `pick` chooses the next peer (undefined = none
   * left); with `retry`, a HELLO unanswered after retryMs is resent, otherwise it is counted lost.
   */
  private closedLoop(opts: {
    window: number;
    retryMs: number;
    retry: boolean;
    pick: () => number | undefined;
    done: (acked: number) => boolean;
    deadlineMs: number;
    /** Stop sending (and finish) after this long even if not done; Infinity for register. */
    durationMs: number;
  }): Promise<HandshakeResult> {
    const pending = new Map<number, number>();
    const retryQueue: number[] = [];
    const latency = new Samples();
    const phase = this.begin();
    const badAcks0 = this.badAcks;
    let sent = 0;
    let acked = 0;
    let lost = 0;
    return new Promise<HandshakeResult>((resolve, reject) => {
      let finished = false;
      const pump = (): void => {
        while (!finished && pending.size < opts.window) {
          const i = retryQueue.pop() ?? opts.pick();
          if (i === undefined) return;
          if (pending.has(i)) return; // fewer peers than the window: wait for an answer
          pending.set(i, performance.now());
          this.sendHello(i);
          sent++;
        }
      };
      const finish = (error?: Error): void => {
        if (finished) return;
        finished = true;
        const stats = this.end(phase);
        clearInterval(sweep);
        this.onAck = () => undefined;
        if (error) return reject(error);
        resolve({
          ...stats,
          sent,
          acked,
          ackPerSec: Math.round(acked / stats.durationS),
          lost,
          badAcks: this.badAcks - badAcks0,
          ...latency.stats(),
        });
      };
      this.onAck = (i, us) => {
        if (!pending.delete(i)) return; // the late twin of a resent HELLO
        acked++;
        latency.add(us);
        if (opts.done(acked)) finish();
        else pump();
      };
      const sweep = setInterval(() => {
        const now = performance.now();
        if (now - phase.t0 >= opts.durationMs) return finish();
        if (now - phase.t0 >= opts.deadlineMs)
          return finish(
            new Error(`phase did not complete within ${opts.deadlineMs} ms (acked ${acked}, sent ${sent})`),
          );
        for (const [i, at] of pending) {
          if (now - at < opts.retryMs) break; // insertion order = send order
          pending.delete(i);
          lost++;
          if (opts.retry) retryQueue.push(i);
        }
        pump();
      }, 20);
      pump();
    });
  }

  async register(req: RegisterRequest): Promise<HandshakeResult> {
    const from = this.registered;
    const upTo = Math.min(req.upTo, this.peerKeys.count);
    let next = from;
    const r = await this.closedLoop({
      window: req.window,
      retryMs: req.retryMs,
      retry: true,
      pick: () => (next < upTo ? next++ : undefined),
      done: (acked) => acked >= upTo - from,
      deadlineMs: req.maxMs,
      durationMs: upTo > from ? Infinity : 0,
    });
    this.registered = upTo;
    return r;
  }

  blast(req: BlastRequest): Promise<HandshakeResult> {
    const n = Math.min(req.peers, this.registered);
    let next = 0;
    return this.closedLoop({
      window: req.window,
      retryMs: 1000,
      retry: false,
      pick: () => {
        next = (next + 1) % n;
        return next;
      },
      done: () => false,
      deadlineMs: Infinity,
      durationMs: req.durationMs,
    });
  }

  /** Every peer sends a HELLO every intervalMs, the sends spread evenly (a 5 ms tick catches up). */
  async steady(req: SteadyRequest): Promise<SteadyResult> {
    const n = Math.min(req.peers, this.registered);
    const perMs = n / req.intervalMs;
    const latency = new Samples();
    const badAcks0 = this.badAcks;
    let sent = 0;
    let acked = 0;
    let cursor = 0;
    this.onAck = (_i, us) => {
      acked++;
      latency.add(us);
    };
    const phase = this.begin();
    await new Promise<void>((resolve) => {
      const tick = setInterval(() => {
        const elapsed = performance.now() - phase.t0;
        const due = Math.floor(Math.min(elapsed, req.durationMs) * perMs);
        for (; sent < due; sent++) {
          this.sendHello(cursor);
          cursor = (cursor + 1) % n;
        }
        if (elapsed >= req.durationMs) {
          clearInterval(tick);
          resolve();
        }
      }, 5);
    });
    const stats = this.end(phase);
    await sleep(300); // the last ACKs are still on their way
    this.onAck = () => undefined;
    return {
      ...stats,
      sent,
      acked,
      helloPerSec: Math.round(sent / stats.durationS),
      ackPerSec: Math.round(acked / stats.durationS),
      lost: sent - acked,
      badAcks: this.badAcks - badAcks0,
      ...latency.stats(),
    };
  }

  /** Sockets of relay peers 0..count-1, each peer on its own socket. */
  private async ensurePeerSockets(count: number): Promise<void> {
    while (this.peerSockets.length < count) {
      const s = await bindSocket();
      this.watch(s);
      this.peerSockets.push(s);
      this.peerEndpoints.push(this.endpointOf(s));
    }
  }

  /** Moves peers 0..count-1 to their own sockets (the last HELLO wins) and waits for every ACK. */
  private async registerOnOwnSockets(count: number): Promise<void> {
    const waiting = new Set<number>();
    this.onAck = (i) => waiting.delete(i);
    try {
      for (let attempt = 0; attempt < 5; attempt++) {
        for (let i = 0; i < count; i++) waiting.add(i);
        for (let i = 0; i < count; i++) this.sendHello(i, this.peerSockets[i], this.peerEndpoints[i]);
        for (let t = 0; t < 50 && waiting.size > 0; t++) await sleep(10);
        if (waiting.size === 0) return;
      }
      throw new Error(`relay peers not acknowledged: ${[...waiting].join(",")}`);
    } finally {
      this.onAck = () => undefined;
    }
  }

  /**
   * APP traffic over pairs of peers (2p, 2p+1), one flow per direction. The packets are genuinely
   * armed with the pair's session key once; the per-packet stamp then overwrites the first 12
   * ciphertext bytes, so the end-to-end tag no longer verifies. That is invisible to what we
   * measure: the super peer never opens relayed APP (protocol.md s5.1 step 3), and re-sealing
   * 1000 bytes per packet would make the generator, not the daemon, the bottleneck.
   */
  async flows(req: FlowRequest): Promise<FlowResult> {
    if (req.packetSize < MIN_APP_SIZE || req.packetSize > 1472)
      throw new RangeError(`packet size must be ${MIN_APP_SIZE}..1472`);
    const keys = this.peerKeys;
    const peers = req.pairs * 2;
    await this.ensurePeerSockets(peers);
    if (req.mode === "relay") await this.registerOnOwnSockets(peers);
    const ids = Array.from({ length: peers }, (_, i) => keys.identity(i));
    const payload = new Uint8Array(req.packetSize - ARMED_BODY_START);
    randomFillSync(payload);
    const flows: Flow[] = [];
    for (let f = 0; f < peers; f++) {
      const src = f;
      const dst = f ^ 1;
      const a = ids[src];
      const b = ids[dst];
      if (!a || !b) throw new Error("relay identities missing");
      const template = buildPacket(
        { hopCount: 0, networkId: 1, recipient: b.publicKey, sender: a.publicKey, pow: 0, type: MessageType.App },
        payload,
        { txKey: computeSessionKeys(a.xPublic, a.xSecret, b.xPublic).tx },
      );
      flows.push({
        id: f,
        send: this.peerSockets[src] as Socket,
        template,
        sent: 0,
        received: 0,
        lost: 0,
        seenAtLastCheck: 0,
      });
    }
    const port = req.mode === "relay" ? this.spPort : req.port;
    const expectedHop = req.mode === "relay" ? 1 : 0;
    const latency = new Samples();
    const unites0 = this.unites;
    let running = true;
    let measuring = false;
    let sentAtMeasureStart = 0;
    let sentAtMeasureEnd = 0;
    let rx = 0;
    let rxBytes = 0;
    let hopMismatch = 0;
    let totalSent = 0;
    let totalReceived = 0;

    const send = (flow: Flow): void => {
      const pkt = Buffer.allocUnsafe(flow.template.length);
      pkt.set(flow.template);
      pkt.writeDoubleLE(performance.now(), STAMP_TIME);
      pkt.writeUInt32LE(flow.id, STAMP_FLOW);
      flow.send.send(pkt, port, LOOPBACK);
      flow.sent++;
      totalSent++;
    };
    const paced = req.pps !== undefined;
    const pump = (flow: Flow): void => {
      while (running && flow.sent - flow.received - flow.lost < req.window) send(flow);
    };
    this.onApp = (msg) => {
      if (msg.length < MIN_APP_SIZE) return;
      const flow = flows[msg.readUInt32LE(STAMP_FLOW)];
      if (!flow) return;
      flow.received++;
      totalReceived++;
      if (msg[OFF_HOP_COUNT] !== expectedHop) hopMismatch++;
      if (measuring) {
        rx++;
        rxBytes += msg.length;
        latency.add((performance.now() - msg.readDoubleLE(STAMP_TIME)) * 1000);
      }
      if (!paced) pump(flow);
    };

    const phase = this.begin();
    let measureStart = phase.t0;
    let measureEnd = phase.t0;
    let measureCpu = phase;
    let stats: PhaseStats | undefined;
    await new Promise<void>((resolve) => {
      let pacedSent = 0;
      const timer = setInterval(
        () => {
          const now = performance.now();
          const elapsed = now - phase.t0;
          if (!measuring && running && elapsed >= req.warmupMs) {
            measuring = true;
            measureStart = now;
            measureCpu = this.begin();
            sentAtMeasureStart = totalSent;
          }
          if (running && elapsed >= req.warmupMs + req.durationMs) {
            running = false;
            measuring = false;
            measureEnd = now;
            stats = this.end(measureCpu, now);
            sentAtMeasureEnd = totalSent;
            clearInterval(timer);
            resolve();
            return;
          }
          if (paced) {
            const due = Math.floor((elapsed * (req.pps as number)) / 1000);
            for (; pacedSent < due; pacedSent++) send(flows[pacedSent % flows.length] as Flow);
            return;
          }
          // Watchdog: a flow whose window is full and that received nothing for a while lost packets.
          for (const flow of flows) {
            const outstanding = flow.sent - flow.received - flow.lost;
            if (outstanding >= req.window && flow.received === flow.seenAtLastCheck && elapsed > 100)
              flow.lost += outstanding;
            flow.seenAtLastCheck = flow.received;
            pump(flow);
          }
        },
        paced ? 2 : 100,
      );
      if (!paced) for (const flow of flows) pump(flow);
    });
    await sleep(250); // let the tail arrive before counting losses
    this.onApp = () => undefined;
    const seconds = (measureEnd - measureStart) / 1000;
    const measuredSent = sentAtMeasureEnd - sentAtMeasureStart;
    return {
      ...(stats as PhaseStats),
      mode: req.mode,
      packetSize: req.packetSize,
      sent: measuredSent,
      received: rx,
      pps: Math.round(rx / seconds),
      mbitPerSec: round1((rxBytes * 8) / 1e6 / seconds),
      lossPct: totalSent === 0 ? 0 : Math.round(Math.max(0, (totalSent - totalReceived) / totalSent) * 10_000) / 100,
      hopMismatch,
      unites: this.unites - unites0,
      ...latency.stats(),
    };
  }

  close(): void {
    for (const s of [...this.sockets, ...this.peerSockets]) s.close();
  }
}

const generator = new Generator();
type Handler = (req: GenOps[GenOp]["req"]) => Promise<unknown>;
const handlers: { [K in GenOp]: (req: GenOps[K]["req"]) => Promise<GenOps[K]["res"]> } = {
  init: (req) => generator.init(req),
  register: (req) => generator.register(req),
  steady: (req) => generator.steady(req),
  blast: (req) => generator.blast(req),
  flows: (req) => generator.flows(req),
  saturateHello: (req) => generator.saturateHello(req),
  saturateRelay: (req) => generator.saturateRelay(req),
};

function reply(msg: GenMessage): void {
  process.send?.(msg);
}

if (!process.send) {
  process.stderr.write("load-worker.ts is the load generator child of sp-runtime/bench/load.ts; run `npm run bench`\n");
  process.exit(2);
}
process.on("message", (call: GenCall) => {
  const handler = handlers[call.op] as Handler | undefined;
  if (!handler) return reply({ id: call.id, kind: "error", error: `unknown op ${String(call.op)}` });
  handler(call.req).then(
    (res) => reply({ id: call.id, kind: "result", res }),
    (e: unknown) =>
      reply({ id: call.id, kind: "error", error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
  );
});
// The runner going away (crash, Ctrl-C) must not leave a generator blasting packets.
process.on("disconnect", () => {
  generator.close();
  process.exit(0);
});
setTimeout(() => {
  process.stderr.write("load generator: lifetime exceeded, exiting\n");
  process.exit(3);
}, MAX_LIFETIME_MS).unref();
