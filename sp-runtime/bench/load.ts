/**
 * Section 2 of `npm run bench`: the real daemon (the esbuild bundle servers run) as a child
 * process on 127.0.0.1, driven by the load generator child (load-worker.ts), observed from
 * outside through /proc. Three processes, so nobody's work is billed to anyone else; on this
 * 2-core machine the daemon and the generator each get a core, and the runner mostly sleeps.
 *
 * Phases, in order (each bounded in time; the generator's phases report their own windows in
 * wall-clock time, and daemon CPU is computed over exactly that window from a 100 ms /proc
 * sampling timeline):
 *   1. warm-up: 100 peers, 2 s of HELLOs (JIT, socket buffers), then the RSS baseline;
 *   2. register 1k, 10k, 50k peers (closed loop: new-peer handshakes/s), RSS after each;
 *      at 10k also the steady state: every peer sends a HELLO every 5 s for 15 s;
 *   3. max HELLO rate of known peers (closed loop, 256 in flight);
 *   4. APP relay over 4 peer pairs, paced (latency) and closed loop (throughput);
 *   5. the same traffic against a trivial UDP echo server: the ceiling of one Node UDP socket.
 */
import { type ChildProcess, execFileSync, fork, spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { generateSecretKey } from "../crypto/keys.ts";
import { saveIdentityFile } from "../identity/identity-file.ts";
import { Identity } from "../identity/identity.ts";
import type {
  FlowResult,
  GenCall,
  GenMessage,
  GenOp,
  GenOps,
  HandshakeResult,
  InitResult,
  PhaseStats,
  SaturateResult,
  SteadyResult,
} from "./load-protocol.ts";
import { round1, round2 } from "./load-protocol.ts";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const WORKER_ENTRY = fileURLToPath(new URL("./load-worker.ts", import.meta.url));

const WARMUP_PEERS = 100;
const PEER_STEPS = [1_000, 10_000] as const;
const HELLO_SOCKETS = 64;
const REGISTER_WINDOW = 256;
/**
 * Quiet time before an RSS reading. V8's memory reducer shrinks the heap only after several
 * seconds of low allocation (seen at ~7 s here), and shorter waits made the 1k step swing by 10 MB.
 */
const SETTLE_MS = 8_000;
const STEADY = { peers: 10_000, intervalMs: 5_000, durationMs: 12_000, skipMs: 2_000 } as const;
/** Saturation: pre-built packets from blaster threads (blaster.ts), so the generator outruns the daemon. */
const SATURATE = {
  threads: 2,
  socketsPerThread: 16,
  helloWindow: 16,
  relayPairsPerThread: 2,
  relayWindow: 32,
  warmupMs: 700,
  durationMs: 4_000,
} as const;
/** 1000-byte packets: a typical relayed datagram, well under the 1472-byte MTU. */
const FLOW = { pairs: 4, packetSize: 1000, window: 64, durationMs: 4_000, warmupMs: 500 } as const;
const PACED = { pps: 2_000, durationMs: 2_000, warmupMs: 300 } as const;
/** The daemon default, stated explicitly: UNITEs after the first relayed packet, then at most every 5 s per pair. */
const SEND_UNITES = "5000";
const SAMPLE_MS = 100;

/** A super peer to measure: anything that takes the DRASYL_* environment of the Rust daemon. */
export interface DaemonSpec {
  label: string;
  /** argv; the first element is the program. */
  argv: string[];
  /** CPUs the daemon is confined to (taskset -c), e.g. "0"; the generator then gets the others. */
  cpus?: string;
  /** Extra environment (on top of the bench's DRASYL_* settings). */
  env?: Record<string, string>;
  /** Where the daemon's stdout goes (e.g. --trace-gc output); discarded when unset. */
  stdoutFile?: string;
}

export interface CpuWindow {
  /** Daemon (or echo server) CPU, user+system, % of one core over the phase's measured window. */
  daemonCpuPct: number;
  /** Daemon CPU µs per answered HELLO / relayed packet: the cost that does not depend on the rate. */
  daemonCpuUsPerPacket: number;
  /** The kernel's part of it (system time: socket calls, and loopback delivery to the receiver). */
  daemonSysUsPerPacket: number;
  /** All processes and the kernel, % of one core (cores x 100 = every core busy). */
  machineCpuPct: number;
  /**
   * machine - server - generator: kernel threads (ksoftirqd), this runner and anything else on the
   * box. A high value means the run shared the machine and its throughput figures are low.
   */
  othersCpuPct: number;
}

export interface MemoryStep {
  peers: number;
  register: HandshakeResult & CpuWindow;
  rssMb: number;
  rssFileMb: number;
  /** (RSS - baseline) per 1000 peers added since the baseline. */
  rssPer1000Mb: number;
}

export interface DaemonRun {
  label: string;
  argv: string[];
  cpus: string | undefined;
  env: Record<string, string>;
  /** The spec's own environment (the unit's tuning for the bundle). */
  tuning: Record<string, string>;
  /**
   * rssFileMb: the file-backed part of RSS, i.e. pages of the program's binary (for Node most of
   * its baseline: shared with every other process running it, and reclaimable).
   */
  baseline: { peers: number; rssMb: number; rssFileMb: number };
  steps: MemoryStep[];
  /** RSS growth per 1000 peers between the 1k and the 10k step. */
  marginalRssPer1000Mb: number;
  peakRssMb: number;
  /** New peers 1k -> 10k: PoW check and key agreement per HELLO. */
  firstContact: HandshakeResult & CpuWindow;
  steady: SteadyResult & CpuWindow;
  helloMax: SaturateResult & CpuWindow;
  relayMax: SaturateResult & CpuWindow;
  relayPaced: FlowResult & CpuWindow;
}

export interface LoadResults {
  keygen: InitResult;
  daemons: DaemonRun[];
  /** The same generator against a trivial UDP echo server: the ceiling of one Node UDP socket. */
  echo: FlowResult & CpuWindow;
}

function progress(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

// ---------------------------------------------------------------------------------------------
// Child processes: every one is registered here, so any exit path (error, signal) can end them.

const children = new Set<ChildProcess>();

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

async function stopChild(child: ChildProcess, graceMs = 2_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

/** For signal handlers and the global watchdog: ends every child this bench started, by pid. */
export function killChildren(): void {
  for (const c of children) c.kill("SIGKILL");
}

/** Resolves with the first match of `re` on the child's stdout; rejects if it exits or takes too long. */
function waitForLine(child: ChildProcess, re: RegExp, what: string, timeoutMs = 15_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    const timer = setTimeout(() => done(new Error(`${what} did not start within ${timeoutMs} ms\n${err}`)), timeoutMs);
    const onOut = (chunk: Buffer): void => {
      out += chunk.toString();
      const m = re.exec(out);
      if (m) done(undefined, m);
    };
    const onErr = (chunk: Buffer): void => {
      err = (err + chunk.toString()).slice(-4000);
    };
    const onExit = (code: number | null): void =>
      done(new Error(`${what} exited with code ${code} before it was ready\n${err}`));
    const done = (e?: Error, m?: RegExpExecArray): void => {
      clearTimeout(timer);
      child.stdout?.off("data", onOut);
      child.stderr?.off("data", onErr);
      child.off("exit", onExit);
      if (e) reject(e);
      else resolve(m as RegExpExecArray);
    };
    child.stdout?.on("data", onOut);
    child.stderr?.on("data", onErr);
    child.once("exit", onExit);
  });
}

/** A clean environment: DRASYL_* or NODE_OPTIONS from the caller's shell must not change what is measured. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith("DRASYL_") && k !== "RUST_LOG" && k !== "NODE_OPTIONS") env[k] = v;
  return { ...env, ...extra };
}

/**
 * The runtime tuning servers run the bundle with: the systemd unit's Environment= lines other than
 * the DRASYL_* settings and RUST_LOG (which the bench sets itself), e.g. NODE_OPTIONS or
 * MALLOC_ARENA_MAX, so that the bench measures what ships.
 */
export function unitEnvironment(): Record<string, string> {
  const unit = readFileSync(join(REPO_ROOT, "templates", "drasyl-sp.service"), "utf8");
  const env: Record<string, string> = {};
  for (const m of unit.matchAll(/^Environment="([A-Z_][A-Z0-9_]*)=([^"]*)"$/gm)) {
    const [, key = "", value = ""] = m;
    if (!key.startsWith("DRASYL_") && key !== "RUST_LOG") env[key] = value;
  }
  return env;
}

/** The bundle servers run; `npm run bench` builds it first. */
export function daemonBundle(): string {
  const file = join(REPO_ROOT, "dist", "drasyl-sp.mjs");
  if (!existsSync(file)) throw new Error(`${file} is missing: run "npm run build" (npm run bench does)`);
  return file;
}

interface Daemon {
  child: ChildProcess;
  pid: number;
  /** The daemon's stderr (its log), kept short; printed if it dies. */
  log: () => string;
}

/** A port nothing listens on right now, for daemons that cannot report an OS-chosen one. */
async function freePort(kind: "udp" | "tcp"): Promise<number> {
  if (kind === "udp") {
    const s = createSocket("udp4");
    await new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()));
    const port = s.address().port;
    await new Promise<void>((r) => s.close(() => r()));
    return port;
  }
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/**
 * Starts the daemon confined to its CPUs. Readiness is not read from its output (other
 * implementations print other things): the generator's first closed loop retries until answered.
 */
function startDaemon(spec: DaemonSpec, env: Record<string, string>): Daemon {
  const argv = spec.cpus === undefined ? spec.argv : ["taskset", "-c", spec.cpus, ...spec.argv];
  const out = spec.stdoutFile === undefined ? "ignore" : openSync(spec.stdoutFile, "w");
  const child = track(
    spawn(argv[0] as string, argv.slice(1), {
      cwd: REPO_ROOT,
      env: cleanEnv({ ...env, ...spec.env }),
      stdio: ["ignore", out, "pipe"],
    }),
  );
  if (typeof out === "number") closeSync(out);
  let log = "";
  child.stderr?.on("data", (c: Buffer) => {
    log = (log + c.toString()).slice(-8000);
  });
  if (child.pid === undefined) throw new Error(`could not start ${argv.join(" ")}`);
  return { child, pid: child.pid, log: () => log };
}

/** Confines every thread of a running process to `cpus` (taskset -a -p -c), or frees it with all CPUs. */
function confine(pid: number, cpus: string): void {
  execFileSync("taskset", ["-a", "-p", "-c", cpus, String(pid)], { stdio: "ignore" });
}

function allCpus(): string {
  return `0-${availableParallelism() - 1}`;
}

/** The CPUs not in a "0" / "0-1" / "0,2" list, as a taskset list. */
function otherCpus(cpus: string): string {
  const taken = new Set<number>();
  for (const part of cpus.split(",")) {
    const [from = NaN, to = from] = part.split("-").map(Number);
    for (let c = from; c <= to; c++) taken.add(c);
  }
  const free = Array.from({ length: availableParallelism() }, (_, i) => i).filter((c) => !taken.has(c));
  if (free.length === 0) throw new Error(`pinning the daemon to CPUs ${cpus} leaves none for the generator`);
  return free.join(",");
}

/** The ceiling: the least a Node process can do per datagram, with the daemon's socket buffer sizes. */
const ECHO_SOURCE = `
const s = require("node:dgram").createSocket("udp4");
s.on("message", (m, r) => s.send(m, r.port, r.address));
s.on("error", () => {});
s.bind(0, "127.0.0.1", () => {
  s.setRecvBufferSize(4 * 1024 * 1024);
  s.setSendBufferSize(4 * 1024 * 1024);
  process.stdout.write("port=" + s.address().port + "\\n");
});
process.stdin.on("end", () => process.exit(0)); // our parent went away
process.stdin.resume();
`;

async function startEcho(): Promise<{ child: ChildProcess; pid: number; port: number }> {
  const child = track(
    spawn(process.execPath, ["-e", ECHO_SOURCE], {
      cwd: REPO_ROOT,
      env: cleanEnv({}),
      stdio: ["pipe", "pipe", "pipe"],
    }),
  );
  const m = await waitForLine(child, /port=(\d+)/, "echo server");
  if (child.pid === undefined) throw new Error("echo server has no pid");
  return { child, pid: child.pid, port: Number(m[1]) };
}

/** The generator child, and a typed request/response channel to it. */
class GeneratorClient {
  readonly child: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor() {
    this.child = track(
      fork(WORKER_ENTRY, [], {
        cwd: REPO_ROOT,
        execArgv: ["--import", "tsx"],
        env: cleanEnv({}),
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      }),
    );
    this.child.on("message", (m: GenMessage) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.kind === "result") p.resolve(m.res);
      else p.reject(new Error(`load generator: ${m.error}`));
    });
    this.child.once("exit", (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`load generator exited with code ${code}`));
      this.pending.clear();
    });
  }

  call<K extends GenOp>(op: K, req: GenOps[K]["req"], timeoutMs: number): Promise<GenOps[K]["res"]> {
    const id = this.nextId++;
    const msg: GenCall<K> = { id, op, req };
    return new Promise<GenOps[K]["res"]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`load generator: ${op} took longer than ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as GenOps[K]["res"]);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.send(msg);
    });
  }

  async stop(): Promise<void> {
    if (this.child.connected) this.child.disconnect(); // the generator exits on disconnect
    await stopChild(this.child);
  }
}

// ---------------------------------------------------------------------------------------------
// /proc sampling

const CLK_TCK = ((): number => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU seconds of the process (all threads), or system (kernel) time only. */
function cpuSeconds(pid: number, which: "all" | "sys" = "all"): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after "(comm)": state is field 3, utime 14 and stime 15 (proc(5)).
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((which === "all" ? Number(f[11]) : 0) + Number(f[12])) / CLK_TCK;
}

function statusKb(pid: number, field: "VmRSS" | "VmHWM" | "RssFile"): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : NaN;
}

/** Busy CPU seconds of the whole machine, all cores (proc(5): the "cpu" line of /proc/stat). */
export function machineBusySeconds(): number {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "";
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / CLK_TCK;
}

/**
 * A CPU-seconds counter read every SAMPLE_MS, so the CPU of any wall-clock window can be computed
 * afterwards. Machine-wide CPU matters on loopback: part of the packet work runs in softirq
 * context (ksoftirqd), which no process of ours is billed for.
 */
class CpuTimeline {
  private readonly t: number[] = [];
  private readonly cpu: number[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly read: () => number;

  constructor(read: () => number) {
    this.read = read;
    this.sample();
    this.timer = setInterval(() => this.sample(), SAMPLE_MS);
  }

  private sample(): void {
    try {
      const c = this.read();
      this.t.push(wallMs());
      this.cpu.push(c);
    } catch {
      // the process is gone; the phase that needed it fails on its own
    }
  }

  /** CPU seconds at wall time `at`, interpolated between the samples around it. */
  private at(at: number): number {
    const n = this.t.length;
    let i = 1;
    while (i < n - 1 && (this.t[i] as number) < at) i++;
    const t0 = this.t[i - 1] as number;
    const t1 = this.t[i] as number;
    const c0 = this.cpu[i - 1] as number;
    const c1 = this.cpu[i] as number;
    return t1 === t0 ? c1 : c0 + ((c1 - c0) * (at - t0)) / (t1 - t0);
  }

  /** % of one core between two wall-clock times (ms). Waits for a sample past `to` first. */
  async pct(from: number, to: number): Promise<number> {
    while ((this.t[this.t.length - 1] ?? 0) < to) await sleep(SAMPLE_MS);
    return round1(((this.at(to) - this.at(from)) / ((to - from) / 1000)) * 100);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

function windowOf(s: PhaseStats): [number, number] {
  return [s.startWallMs, s.endWallMs];
}

async function withCpu<T extends PhaseStats>(
  server: CpuTimeline,
  machine: CpuTimeline,
  r: T,
  packets: number,
  skipMs = 0,
  serverSys?: CpuTimeline,
): Promise<T & CpuWindow> {
  const [from, to] = windowOf(r);
  const daemonCpuPct = await server.pct(from + skipMs, to);
  const daemonSysPct = serverSys ? await serverSys.pct(from + skipMs, to) : NaN;
  const machineCpuPct = await machine.pct(from + skipMs, to);
  const perSec = packets / ((to - from) / 1000);
  return {
    ...r,
    daemonCpuPct,
    machineCpuPct,
    // Three counters sampled at different moments: a few % of jitter, so clamp the noise below 0.
    othersCpuPct: Math.max(0, round1(machineCpuPct - daemonCpuPct - r.generatorCpuPct)),
    daemonCpuUsPerPacket: perSec > 0 ? round1((daemonCpuPct / 100) * (1e6 / perSec)) : NaN,
    daemonSysUsPerPacket: perSec > 0 ? round1((daemonSysPct / 100) * (1e6 / perSec)) : NaN,
  };
}

/** RSS after the daemon had `SETTLE_MS` without traffic: the median of five readings, in MB. */
async function settledRssMb(pid: number): Promise<number> {
  await sleep(SETTLE_MS);
  const xs: number[] = [];
  for (let i = 0; i < 5; i++) {
    xs.push(statusKb(pid, "VmRSS"));
    await sleep(200);
  }
  xs.sort((a, b) => a - b);
  return round1((xs[2] as number) / 1024);
}

// ---------------------------------------------------------------------------------------------

export async function benchLoad(specs: DaemonSpec[]): Promise<LoadResults> {
  const dir = mkdtempSync(join(tmpdir(), "drasyl-bench-"));
  const cleanups: Cleanup[] = [() => rmSync(dir, { recursive: true, force: true })];
  try {
    const spIdentity = new Identity(generateSecretKey(), 0);
    const identityFile = join(dir, "sp.identity");
    saveIdentityFile(identityFile, spIdentity);
    const machine = new CpuTimeline(machineBusySeconds);
    cleanups.push(() => machine.stop());

    const daemons: DaemonRun[] = [];
    let keygen: InitResult | undefined;
    for (const spec of specs) {
      const run = await benchDaemon(spec, spIdentity, identityFile, machine);
      keygen ??= run.keygen;
      daemons.push(run.result);
    }

    progress("echo ceiling: same generator, same packets, trivial UDP echo server");
    const gen = new GeneratorClient();
    cleanups.push(() => gen.stop());
    const echo = await startEcho();
    cleanups.push(() => stopChild(echo.child));
    const echoCpu = new CpuTimeline(() => cpuSeconds(echo.pid));
    cleanups.push(() => echoCpu.stop());
    await gen.call(
      "init",
      {
        spPublicKeyHex: spIdentity.publicKeyHex,
        spPort: echo.port,
        peers: FLOW.pairs * 2,
        sockets: 1,
        keygenThreads: 1,
      },
      60_000,
    );
    const r = await gen.call(
      "flows",
      {
        pairs: FLOW.pairs,
        packetSize: FLOW.packetSize,
        window: FLOW.window,
        mode: "echo",
        port: echo.port,
        durationMs: FLOW.durationMs,
        warmupMs: FLOW.warmupMs,
      },
      FLOW.durationMs + 30_000,
    );
    const echoMax = await withCpu(echoCpu, machine, r, r.received);
    if (!keygen) throw new Error("no daemon to measure");
    return { keygen, daemons, echo: echoMax };
  } finally {
    await runCleanups(cleanups);
  }
}

type Cleanup = () => Promise<void> | void;

/** Undoes set-up in reverse order; one failing step is reported and does not stop the others. */
async function runCleanups(cleanups: Cleanup[]): Promise<void> {
  for (const c of cleanups.reverse()) {
    try {
      await c();
    } catch (e) {
      progress(`cleanup failed: ${(e as Error).message}`);
    }
  }
}

async function benchDaemon(
  spec: DaemonSpec,
  spIdentity: Identity,
  identityFile: string,
  machine: CpuTimeline,
): Promise<{ keygen: InitResult; result: DaemonRun }> {
  const cleanups: Cleanup[] = [];
  try {
    const udpPort = await freePort("udp");
    const env: Record<string, string> = {
      DRASYL_IDENTITY_FILE: identityFile,
      DRASYL_UDP4_LISTEN: `127.0.0.1:${udpPort}`,
      DRASYL_UDP6_LISTEN: "",
      DRASYL_TCP4_LISTEN: `127.0.0.1:${await freePort("tcp")}`,
      DRASYL_TCP6_LISTEN: "",
      DRASYL_MIN_POW_DIFFICULTY: "0",
      DRASYL_MAX_PEERS: "0",
      DRASYL_SEND_UNITES: SEND_UNITES,
      // Registered peers must survive the whole run without keep-alive HELLOs, so that RSS is
      // measured on a still table; the steady phase then sends HELLOs at the real 5 s rate.
      DRASYL_HELLO_TIMEOUT: "600000",
      DRASYL_PEERS_PRINT_INTERVAL: "0",
      DRASYL_PROMETHEUS_LISTEN: "",
      RUST_LOG: "warn",
    };
    progress(
      `${spec.label}: starting ${spec.cpus === undefined ? "" : `taskset -c ${spec.cpus} `}${spec.argv.join(" ")}`,
    );
    const daemon = startDaemon(spec, env);
    cleanups.push(() => stopChild(daemon.child, 10_000));
    const daemonDied = new Promise<never>((_, reject) =>
      daemon.child.once("exit", (code) =>
        reject(new Error(`${spec.label}: daemon exited (code ${code}) during the bench\n${daemon.log()}`)),
      ),
    );
    daemonDied.catch(() => undefined);
    const cpu = new CpuTimeline(() => cpuSeconds(daemon.pid));
    cleanups.push(() => cpu.stop());
    const sys = new CpuTimeline(() => cpuSeconds(daemon.pid, "sys"));
    cleanups.push(() => sys.stop());

    const gen = new GeneratorClient();
    cleanups.push(() => gen.stop());
    const genPid = gen.child.pid;
    if (genPid === undefined) throw new Error("load generator has no pid");
    // The generator's threads (blasters included) inherit this affinity.
    confine(genPid, spec.cpus === undefined ? allCpus() : otherCpus(spec.cpus));
    const genCpu = new CpuTimeline(() => cpuSeconds(genPid));
    cleanups.push(() => genCpu.stop());
    const call = <K extends GenOp>(op: K, req: GenOps[K]["req"], timeoutMs: number): Promise<GenOps[K]["res"]> =>
      Promise.race([gen.call(op, req, timeoutMs), daemonDied]);
    /** Generator CPU from /proc too, for phases whose threads are not in its own window. */
    const measured = async <T extends PhaseStats>(r: T, packets: number, skipMs = 0): Promise<T & CpuWindow> =>
      withCpu(
        cpu,
        machine,
        { ...r, generatorCpuPct: await genCpu.pct(r.startWallMs + skipMs, r.endWallMs) },
        packets,
        skipMs,
        sys,
      );

    const maxPeers = PEER_STEPS[PEER_STEPS.length - 1] as number;
    const keygen = await call(
      "init",
      {
        spPublicKeyHex: spIdentity.publicKeyHex,
        spPort: udpPort,
        peers: maxPeers,
        sockets: HELLO_SOCKETS,
        keygenThreads: 2,
      },
      120_000,
    );

    progress(`${spec.label}: warm-up`);
    await call("register", { upTo: WARMUP_PEERS, window: 32, retryMs: 1000, maxMs: 20_000 }, 30_000);
    await call("blast", { peers: WARMUP_PEERS, window: 32, durationMs: 2_000 }, 30_000);
    const baselineRss = await settledRssMb(daemon.pid);
    const baselineFile = round1(statusKb(daemon.pid, "RssFile") / 1024);

    const steps: MemoryStep[] = [];
    let steady: (SteadyResult & CpuWindow) | undefined;
    for (const peers of PEER_STEPS) {
      progress(`${spec.label}: registering peers up to ${peers}`);
      const r = await call(
        "register",
        { upTo: peers, window: REGISTER_WINDOW, retryMs: 2_000, maxMs: 150_000 },
        180_000,
      );
      const register = await measured(r, r.acked);
      const rssMb = await settledRssMb(daemon.pid);
      steps.push({
        peers,
        register,
        rssMb,
        rssFileMb: round1(statusKb(daemon.pid, "RssFile") / 1024),
        rssPer1000Mb: round2((rssMb - baselineRss) / ((peers - WARMUP_PEERS) / 1000)),
      });
      if (peers === STEADY.peers) {
        progress(
          `${spec.label}: steady state, ${STEADY.peers} peers, a HELLO every ${STEADY.intervalMs / 1000} s each, for ${STEADY.durationMs / 1000} s`,
        );
        const s = await call(
          "steady",
          { peers: STEADY.peers, intervalMs: STEADY.intervalMs, durationMs: STEADY.durationMs },
          STEADY.durationMs + 30_000,
        );
        steady = await measured(s, s.acked, STEADY.skipMs);
      }
    }
    if (!steady) throw new Error("steady phase did not run");
    const s1 = steps[0] as MemoryStep;
    const s10 = steps[steps.length - 1] as MemoryStep;

    progress(`${spec.label}: saturating HELLO -> ACK (${SATURATE.threads} blaster threads, pre-built HELLOs)`);
    const h = await call(
      "saturateHello",
      {
        peers: maxPeers,
        threads: SATURATE.threads,
        socketsPerThread: SATURATE.socketsPerThread,
        window: SATURATE.helloWindow,
        warmupMs: SATURATE.warmupMs,
        durationMs: SATURATE.durationMs,
      },
      SATURATE.durationMs + 30_000,
    );
    const helloMax = await measured(h, h.received);

    progress(`${spec.label}: relay, paced (latency), then saturated (${SATURATE.threads} blaster threads)`);
    const p = await call(
      "flows",
      {
        pairs: FLOW.pairs,
        packetSize: FLOW.packetSize,
        window: FLOW.window,
        mode: "relay",
        port: udpPort,
        durationMs: PACED.durationMs,
        warmupMs: PACED.warmupMs,
        pps: PACED.pps,
      },
      PACED.durationMs + 30_000,
    );
    const relayPaced = await measured(p, p.received);
    const rm = await call(
      "saturateRelay",
      {
        threads: SATURATE.threads,
        pairsPerThread: SATURATE.relayPairsPerThread,
        packetSize: FLOW.packetSize,
        window: SATURATE.relayWindow,
        warmupMs: SATURATE.warmupMs,
        durationMs: SATURATE.durationMs,
      },
      SATURATE.durationMs + 30_000,
    );
    const relayMax = await measured(rm, rm.received);
    const peakRssMb = round1(statusKb(daemon.pid, "VmHWM") / 1024);

    return {
      keygen,
      result: {
        label: spec.label,
        argv: spec.argv,
        cpus: spec.cpus,
        env: { ...env, ...spec.env, DRASYL_IDENTITY_FILE: "<temp>" },
        tuning: spec.env ?? {},
        baseline: { peers: WARMUP_PEERS, rssMb: baselineRss, rssFileMb: baselineFile },
        steps,
        marginalRssPer1000Mb: round2((s10.rssMb - s1.rssMb) / ((s10.peers - s1.peers) / 1000)),
        peakRssMb,
        firstContact: s10.register,
        steady,
        helloMax,
        relayMax,
        relayPaced,
      },
    };
  } finally {
    await runCleanups(cleanups);
  }
}
