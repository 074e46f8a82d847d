/**
 * The load generator's saturating phases: worker threads that only resend pre-built packets, so
 * that the generator can outrun one daemon core. Nothing is built, sealed or opened per packet
 * here: a reply is recognised by its type byte and answered by the next packet of the socket it
 * arrived on. (The daemon neither checks HELLO freshness closer than HELLO_MAX_AGE nor opens
 * relayed APP, so resending the same bytes costs it exactly what fresh ones would.)
 *
 * Each worker binds its own sockets. A socket has a list of packets and an output socket: every
 * reply of the expected type arriving on it sends its next packet from that output socket.
 *   - HELLO mode: packets are HELLOs of many peers, the output socket is the socket itself (the
 *     ACK comes back where the HELLO came from);
 *   - relay mode: socket b holds the APPs a -> b and outputs on a, since the relayed copy of a's
 *     APP arrives at b; the pair first registers with one HELLO from each socket.
 *
 * The worker source is plain JS run with `eval`, as in identity/pow.ts: it then works the same
 * under tsx and from any bundle, with no worker file to locate.
 */
import { Worker } from "node:worker_threads";

export interface BlastSocketSpec {
  /** Packets sent from `output` whenever a reply arrives here, round robin. */
  packets: Uint8Array[];
  /** Index (within the same worker) of the socket those packets leave from. */
  output: number;
  /** Sent once from this socket before the measurement, answered by an ACK (relay mode). */
  hello?: Uint8Array;
}

export interface BlastSpec {
  port: number;
  /** Message type of a reply that counts: 0 ACK, 1 APP. */
  replyType: number;
  /** Outstanding packets per socket. */
  window: number;
  warmupMs: number;
  durationMs: number;
  /** One socket list per worker thread. */
  workers: BlastSocketSpec[][];
}

export interface BlastOutcome {
  /** Replies in the measured window, all workers. */
  received: number;
  /** Sum over workers of replies / own window: the rate, free of start skew between workers. */
  perSec: number;
  sent: number;
  /** Times a socket's window was declared lost because no reply came for a while. */
  stalls: number;
  startWallMs: number;
  endWallMs: number;
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { createSocket } = require("node:dgram");
const { port, replyType, window, warmupMs, durationMs, sockets: specs } = workerData;
const wall = () => performance.timeOrigin + performance.now();
const socks = [];
let measuring = false, received = 0, sent = 0, stalls = 0, acks = 0;
function bind() {
  return new Promise((resolve, reject) => {
    const s = createSocket("udp4");
    s.once("error", reject);
    s.bind(0, "127.0.0.1", () => {
      s.setRecvBufferSize(4 << 20);
      s.setSendBufferSize(4 << 20);
      s.on("error", () => {});
      resolve(s);
    });
  });
}
(async () => {
  for (let i = 0; i < specs.length; i++) socks.push(await bind());
  const state = specs.map((sp) => ({ packets: sp.packets.map((p) => Buffer.from(p)), out: sp.output, next: 0, outstanding: 0, lastReply: 0 }));
  const pump = (st) => {
    const out = socks[st.out];
    while (st.outstanding < window) {
      out.send(st.packets[st.next], port, "127.0.0.1");
      st.next = st.next + 1 === st.packets.length ? 0 : st.next + 1;
      st.outstanding++;
      if (measuring) sent++;
    }
  };
  socks.forEach((s, i) => s.on("message", (m) => {
    if (m.length < 79) return;
    const type = m[78];
    if (type === 0) acks++;
    if (type !== replyType) return;
    const st = state[i];
    st.lastReply = performance.now();
    if (measuring) received++;
    if (st.outstanding > 0) st.outstanding--;
    if (st.packets.length > 0) pump(st);
  }));
  const hellos = specs.filter((sp) => sp.hello).length;
  for (let attempt = 0; attempt < 10 && acks < hellos; attempt++) {
    acks = 0;
    specs.forEach((sp, i) => sp.hello && socks[i].send(Buffer.from(sp.hello), port, "127.0.0.1"));
    await new Promise((r) => setTimeout(r, 200));
  }
  if (acks < hellos) throw new Error("relay sockets not acknowledged: " + acks + " of " + hellos + " ACKs");
  parentPort.postMessage({ kind: "ready" });
  await new Promise((r) => parentPort.once("message", r));
  const t0 = performance.now();
  for (const st of state) if (st.packets.length > 0) { st.lastReply = t0; pump(st); }
  let startWallMs = 0;
  await new Promise((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      if (!measuring && now - t0 >= warmupMs) { measuring = true; startWallMs = wall(); }
      if (now - t0 >= warmupMs + durationMs) { clearInterval(timer); resolve(); return; }
      // A full window with no reply for a while lost its packets: reopen it, or it stays clogged.
      for (const st of state) {
        if (st.packets.length > 0 && st.outstanding > 0 && now - st.lastReply > 200) { st.outstanding = 0; st.lastReply = now; stalls++; pump(st); }
      }
    }, 20);
  });
  measuring = false;
  const endWallMs = wall();
  for (const st of state) st.outstanding = window; // stop sending on late replies
  // Closing the sockets here, before the thread ends: terminating a worker while its UDP sockets
  // still receive aborts the whole process in Node 20 (FromJust in UDPWrap::OnRecv).
  await Promise.all(socks.map((s) => new Promise((r) => s.close(r))));
  parentPort.postMessage({ kind: "done", received, sent, stalls, startWallMs, endWallMs });
})().catch((e) => {
  parentPort.postMessage({ kind: "error", error: String(e && e.stack || e) });
  for (const s of socks) s.close();
});
`;

type WorkerDone = Omit<BlastOutcome, "perSec">;
type WorkerMessage = { kind: "ready" } | ({ kind: "done" } & WorkerDone) | { kind: "error"; error: string };

/** Runs every worker; the measured window starts together, once all of them are registered. */
export async function blast(spec: BlastSpec): Promise<BlastOutcome> {
  const workers = spec.workers.map(
    (sockets) =>
      new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: {
          port: spec.port,
          replyType: spec.replyType,
          window: spec.window,
          warmupMs: spec.warmupMs,
          durationMs: spec.durationMs,
          sockets,
        },
      }),
  );
  const exited = workers.map((w) => new Promise<void>((resolve) => w.once("exit", () => resolve())));
  try {
    const next = (w: Worker): Promise<WorkerMessage> =>
      new Promise((resolve, reject) => {
        w.once("message", (m: WorkerMessage) =>
          m.kind === "error" ? reject(new Error(`blaster: ${m.error}`)) : resolve(m),
        );
        w.once("error", reject);
      });
    await Promise.all(workers.map(next));
    const done = workers.map(next);
    for (const w of workers) w.postMessage("go");
    const results = (await Promise.all(done)) as ({ kind: "done" } & WorkerDone)[];
    return {
      received: results.reduce((n, r) => n + r.received, 0),
      perSec: Math.round(results.reduce((n, r) => n + r.received / ((r.endWallMs - r.startWallMs) / 1000), 0)),
      sent: results.reduce((n, r) => n + r.sent, 0),
      stalls: results.reduce((n, r) => n + r.stalls, 0),
      // The common window: every worker was measuring in it.
      startWallMs: Math.max(...results.map((r) => r.startWallMs)),
      endWallMs: Math.min(...results.map((r) => r.endWallMs)),
    };
  } finally {
    // A worker that reported "done" has closed its sockets and exits by itself; only a failed one is terminated.
    await Promise.all(
      workers.map((w, i) => {
        const timer = setTimeout(() => void w.terminate(), 5_000);
        return (exited[i] as Promise<void>).then(() => clearTimeout(timer));
      }),
    );
  }
}
