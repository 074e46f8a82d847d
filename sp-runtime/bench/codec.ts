/**
 * Section 1 of `npm run bench`: in-process costs of the super peer's packet path and of identity
 * creation, with no sockets involved, so the numbers are the code's and not the kernel's.
 */
import { availableParallelism } from "node:os";
import { performance } from "node:perf_hooks";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { ed25519PublicToX25519, generateSecretKey, x25519SharedSecret } from "../crypto/keys.ts";
import { computeSessionKeys } from "../crypto/session.ts";
import { Logger } from "../daemon/log.ts";
import { SuperPeer, type SuperPeerOptions } from "../daemon/super-peer.ts";
import type { UdpSender } from "../daemon/transport.ts";
import { Identity } from "../identity/identity.ts";
import { generatePow, isValidPow } from "../identity/pow.ts";
import { MessageType } from "../wire/constants.ts";
import { decodeAck, decodeHelloSuperPeer, encodeAck, encodeHelloSuperPeer, nowMicros } from "../wire/messages.ts";
import { buildPacket, type HeaderFields, openPacket } from "../wire/packet.ts";
import { generatePeerKeys } from "./keygen.ts";
import { round1 } from "./load-protocol.ts";

export interface OpsRow {
  name: string;
  opsPerSec: number;
  usPerOp: number;
  note: string;
}

export interface PeerMemory {
  peers: number;
  /** Per peer, after a forced full GC: what the peer table itself costs, free of allocator noise. */
  heapBytesPerPeer: number;
  externalBytesPerPeer: number;
  rssBytesPerPeer: number;
  /**
   * The peer and pair tables live in SharedArrayBuffers sized once for the table's capacity, so
   * they do not show in the deltas above: their size per slot (memory is committed as slots fill).
   */
  sharedBytesPerSlot: number;
}

export interface HelloBench {
  rows: OpsRow[];
  /** handleUdp HELLO -> ACK for a known peer: the figure the 100k/s target is about. */
  helloAckPerSec: number;
  newPeerPerSec: number;
  memory: PeerMemory;
}

export interface PowBench {
  difficulty: number;
  workers: number;
  runs: { seconds: number | null; hashesPerSec: number | null }[];
  meanSeconds: number | null;
  minSeconds: number | null;
  maxSeconds: number | null;
  /** Mean hash rate of all cores: a steadier figure than the time, which is geometrically distributed. */
  meanMegaHashesPerSec: number | null;
}

const WARMUP_MS = 150;
const MEASURE_MS = 1000;
/** Calls between clock reads, so reading the clock stays out of the measurement. */
const BATCH = 64;
const NEW_PEERS = 4000;
const NEW_PEER_WARMUP = 200;
const BREAKDOWN_N = 1000;

/** Mirrors the daemon's defaults except what the bench needs: arming on, cheap PoW, no peer limit. */
const OPTIONS: SuperPeerOptions = {
  networkId: 1,
  armMessages: true,
  sendUnites: 5000,
  maxPeers: 0,
  minPowDifficulty: 0,
  helloTimeout: 30_000,
  helloMaxAge: 300_000,
};

/**
 * The clock of section 1: this process's CPU time in ms, not wall time, so that on a shared
 * machine the runs take longer but the per-operation figures stay the code's own.
 */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** ops per CPU second of `op` after a warm-up; `between` runs once per batch (its cost is included, but it is tiny). */
function measure(op: () => void, between: () => void = () => undefined): number {
  const run = (ms: number): number => {
    const start = cpuMs();
    let ops = 0;
    let now = start;
    while (now - start < ms) {
      for (let i = 0; i < BATCH; i++) op();
      ops += BATCH;
      between();
      now = cpuMs();
    }
    return (ops * 1000) / (now - start);
  };
  run(WARMUP_MS);
  return run(MEASURE_MS);
}

function row(name: string, opsPerSec: number, note = ""): OpsRow {
  return { name, opsPerSec: Math.round(opsPerSec), usPerOp: Math.round((1e6 / opsPerSec) * 100) / 100, note };
}

/** Times one pass over `n` inputs: for costs too slow or too stateful to loop on one input. */
function perItem(n: number, op: (i: number) => void): number {
  const start = cpuMs();
  for (let i = 0; i < n; i++) op(i);
  return (n * 1000) / (cpuMs() - start);
}

function gcFunction(): () => void {
  // The runner is not started with --expose-gc; this makes gc() reachable at runtime instead.
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}

function helloHeader(from: Uint8Array, to: Uint8Array): HeaderFields {
  return { hopCount: 0, networkId: 1, recipient: to, sender: from, pow: 0, type: MessageType.Hello };
}

/** The 161-byte armed HELLO a real node sends: time, child time, one endpoint. */
function armedHello(from: Uint8Array, to: Uint8Array, txKey: Uint8Array, time = nowMicros()): Uint8Array {
  return buildPacket(helloHeader(from, to), encodeHelloSuperPeer(time, [{ address: "127.0.0.1", port: 40000 }]), {
    txKey,
  });
}

export async function benchHello(): Promise<HelloBench> {
  const spId = new Identity(generateSecretKey(), 0);
  const peer = new Identity(generateSecretKey(), 0);
  const peerSession = computeSessionKeys(peer.xPublic, peer.xSecret, spId.xPublic);
  const spSession = computeSessionKeys(spId.xPublic, spId.xSecret, peer.xPublic);
  const silent = new Logger("error", () => undefined);
  const rows: OpsRow[] = [];

  // --- Known peer through SuperPeer.handleUdp: header check, lookup, disarm, parse, time check, ACK build + arm.
  const sp = new SuperPeer(spId, OPTIONS, silent);
  let acks = 0;
  let lastAck: Uint8Array | undefined;
  const udp: UdpSender = {
    name: "udp4",
    send(pkt) {
      acks++;
      lastAck = pkt;
    },
  };
  sp.addUdp(udp);
  let helloTime = nowMicros();
  let pristine = armedHello(peer.publicKey, spId.publicKey, peerSession.tx, helloTime);
  if (pristine.length !== 161) throw new Error(`bench HELLO is ${pristine.length} bytes, expected 161`);
  let builtAt = performance.now();
  // Keeps the HELLO time current, so no run is long enough for the daemon to call it stale.
  const refresh = (): void => {
    if (performance.now() - builtAt < 1000) return;
    helloTime = nowMicros();
    pristine = armedHello(peer.publicKey, spId.publicKey, peerSession.tx, helloTime);
    builtAt = performance.now();
  };
  // Opening decrypts in place, so every iteration starts from a fresh copy of the armed packet.
  const work = Buffer.allocUnsafe(pristine.length);
  const handle = (): void => {
    work.set(pristine);
    const dropped = sp.handleUdp(work, udp, "127.0.0.1", 40000);
    if (dropped !== undefined) throw new Error(`bench HELLO dropped: ${dropped}`);
  };
  handle(); // first contact: creates the peer and its session keys outside the measurement
  const acks0 = acks;
  const helloAckPerSec = measure(handle, refresh);
  if (acks === acks0 || lastAck === undefined) throw new Error("handleUdp sent no ACK");
  const ack = openPacket(lastAck.slice(), peerSession.rx);
  if (!ack.ok || ack.value.header.type !== MessageType.Ack)
    throw new Error("the super peer's ACK does not open with the peer's rx key");
  const echoed = decodeAck(ack.value.body);
  if (!echoed.ok || echoed.value !== helloTime) throw new Error("the ACK does not echo the HELLO time");
  rows.push(row("SuperPeer.handleUdp HELLO->ACK, known peer", helloAckPerSec, "161 B armed HELLO, no-op UdpSender"));

  // --- The same work through the generic wire API, as a hand-written super peer would do it.
  refresh();
  const codecPerSec = measure(() => {
    work.set(pristine);
    const opened = openPacket(work, spSession.rx);
    if (!opened.ok) throw new Error(opened.reason);
    const hello = decodeHelloSuperPeer(opened.value.body);
    if (!hello.ok) throw new Error(hello.reason);
    buildPacket(
      { ...helloHeader(spId.publicKey, opened.value.header.sender), type: MessageType.Ack },
      encodeAck(hello.value.time),
      { txKey: spSession.tx },
    );
  }, refresh);
  rows.push(
    row(
      "wire API: openPacket+decodeHello+buildPacket(ACK)",
      codecPerSec,
      "endpoint decoding (ipaddr.js), OS random per ACK",
    ),
  );

  // --- First contact: each HELLO from a new key, so the daemon checks the PoW and derives session keys.
  const keys = await generatePeerKeys(NEW_PEERS, spId.xPublic);
  const hellos = Array.from({ length: NEW_PEERS }, (_, i) =>
    Buffer.from(armedHello(keys.publicKey(i), spId.publicKey, keys.tx(i))),
  );
  const fresh = new SuperPeer(spId, OPTIONS, silent);
  fresh.addUdp(udp);
  const feed = (i: number): void => {
    const dropped = fresh.handleUdp(hellos[i] as Buffer, udp, "127.0.0.1", 20000 + (i % 1000));
    if (dropped !== undefined) throw new Error(`new-peer HELLO dropped: ${dropped}`);
  };
  for (let i = 0; i < NEW_PEER_WARMUP; i++) feed(i);
  const gc = gcFunction();
  gc();
  const m0 = process.memoryUsage();
  const measured = NEW_PEERS - NEW_PEER_WARMUP;
  const newPeerPerSec = perItem(measured, (i) => feed(i + NEW_PEER_WARMUP));
  gc();
  const m1 = process.memoryUsage();
  if (fresh.peers.size !== NEW_PEERS) throw new Error(`expected ${NEW_PEERS} peers, have ${fresh.peers.size}`);
  rows.push(
    row("SuperPeer.handleUdp HELLO->ACK, new peer", newPeerPerSec, "PoW check + Ed25519->X25519 + crypto_kx per peer"),
  );
  const memory: PeerMemory = {
    peers: measured,
    heapBytesPerPeer: Math.round((m1.heapUsed - m0.heapUsed) / measured),
    externalBytesPerPeer: Math.round((m1.external - m0.external) / measured),
    rssBytesPerPeer: Math.round((m1.rss - m0.rss) / measured),
    sharedBytesPerSlot: Math.round(
      (fresh.shared.peers.buffer.byteLength + fresh.shared.pairs.buffer.byteLength) / fresh.peers.capacity,
    ),
  };

  // --- Where a new peer's time goes (each over distinct keys, so nothing is cached).
  const pks = Array.from({ length: BREAKDOWN_N }, (_, i) => keys.publicKey(i));
  const xs = pks.map((pk) => ed25519PublicToX25519(pk));
  rows.push(
    row(
      "  new peer: isValidPow (SHA-256)",
      perItem(BREAKDOWN_N, (i) => isValidPow(pks[i] as Uint8Array, 0, 24)),
      "identity/pow.ts",
    ),
  );
  rows.push(
    row(
      "  new peer: ed25519PublicToX25519",
      perItem(BREAKDOWN_N, (i) => ed25519PublicToX25519(pks[i] as Uint8Array)),
      "native modexp (RSA public op mod p), edwards-to-montgomery.ts",
    ),
  );
  rows.push(
    row(
      "  new peer: x25519SharedSecret",
      perItem(BREAKDOWN_N, (i) => x25519SharedSecret(spId.xSecret, xs[i] as Uint8Array)),
      "node:crypto; own key imported once, peer key as JWK",
    ),
  );
  rows.push(
    row(
      "  new peer: computeSessionKeys",
      perItem(BREAKDOWN_N, (i) => computeSessionKeys(spId.xPublic, spId.xSecret, xs[i] as Uint8Array)),
      "X25519 + BLAKE2b-512",
    ),
  );
  return { rows, helloAckPerSec: Math.round(helloAckPerSec), newPeerPerSec: Math.round(newPeerPerSec), memory };
}

const I32_MIN = -0x80000000;
const I32_SPAN = 0x1_0000_0000;

/**
 * generatePow on every core, `runs` times, starting no new run after `budgetMs`. Each worker
 * scans its own slice of the i32 range from the bottom (identity/pow.ts), so the winner's offset
 * into its slice times the worker count estimates the hashes tried: a hash rate, which varies
 * far less from run to run than the time does.
 */
export async function benchPow(difficulty = 24, runs = 3, budgetMs = 30_000, maxRunMs = 40_000): Promise<PowBench> {
  const workers = availableParallelism();
  const slice = Math.ceil(I32_SPAN / workers);
  const results: PowBench["runs"] = [];
  const start = performance.now();
  for (let r = 0; r < runs && (r === 0 || performance.now() - start < budgetMs); r++) {
    const pk = generateSecretKey().subarray(32, 64);
    const t0 = performance.now();
    try {
      const pow = await generatePow(pk, { difficulty, workers, signal: AbortSignal.timeout(maxRunMs) });
      const seconds = (performance.now() - t0) / 1000;
      if (!isValidPow(pk, pow, difficulty)) throw new Error("generatePow returned an invalid proof of work");
      const offset = pow - (I32_MIN + Math.floor((pow - I32_MIN) / slice) * slice) + 1;
      results.push({
        seconds: Math.round(seconds * 100) / 100,
        hashesPerSec: Math.round((offset * workers) / seconds),
      });
    } catch (e) {
      if ((e as Error).name !== "TimeoutError") throw e;
      results.push({ seconds: null, hashesPerSec: null });
    }
  }
  const secs = results.flatMap((r) => (r.seconds === null ? [] : [r.seconds]));
  const rates = results.flatMap((r) => (r.hashesPerSec === null ? [] : [r.hashesPerSec]));
  const mean = (xs: number[]): number | null => (xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length);
  const meanSeconds = mean(secs);
  const meanRate = mean(rates);
  return {
    difficulty,
    workers,
    runs: results,
    meanSeconds: meanSeconds === null ? null : Math.round(meanSeconds * 100) / 100,
    minSeconds: secs.length ? Math.min(...secs) : null,
    maxSeconds: secs.length ? Math.max(...secs) : null,
    meanMegaHashesPerSec: meanRate === null ? null : round1(meanRate / 1e6),
  };
}
