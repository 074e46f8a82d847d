/**
 * `npm run bench [-- [crypto|load] [--daemon "<command>"]... [--profile]]`: the performance
 * targets of the super peer, which live here rather than in the tests because they depend on
 * the machine. Prints a table per section, then the targets with PASS/MISS, then one JSON
 * document, which is also written to bench-out/results.json (bench-out/ is gitignored).
 *
 *   1. crypto/codec, in-process: AEGIS-256X2, HELLO -> ACK through SuperPeer.handleUdp and
 *      through the wire API, first-contact cost and its breakdown, peer-table heap per peer,
 *      proof of work at difficulty 24 (codec.ts, aegis.ts);
 *   2. load (load.ts): the bundle pinned to one core (taskset) under this machine's Node and under
 *      the Node servers run, the bundle unpinned with DRASYL_WORKERS=2 under the Node servers run
 *      (two UDP worker threads on one port, SO_REUSEPORT), all with the runtime tuning of the
 *      systemd unit (its non-DRASYL Environment= lines, e.g. MALLOC_ARENA_MAX), and every
 *      `--daemon` command pinned to one core, one at a
 *      time under the same generator. A `--daemon` command is any super peer that takes the Rust
 *      daemon's DRASYL_* environment, e.g. `--daemon "/opt/drasyl/drasyl-sp"`; it runs through
 *      `sh -c "exec <command>"`.
 *
 * `--profile` runs the pinned bundle under the shipped Node with --cpu-prof and --trace-gc and leaves the .cpuprofile
 * (open it in Chrome DevTools or speedscope), a top-functions summary and the GC trace in
 * bench-out/profile/.
 *
 * Takes about 5 minutes on the 2-core reference machine (one more per --daemon); a watchdog ends
 * everything after WATCHDOG_MS whatever happens, and every child process is killed on the way out.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cpus, totalmem } from "node:os";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { nodeRuntime, NODE_RUNTIME } from "../../stacks/install/node-runtime.ts";
import { benchAegis } from "./aegis.ts";
import { benchHello, benchPow, type HelloBench, type PowBench } from "./codec.ts";
import {
  benchLoad,
  daemonBundle,
  type DaemonRun,
  type DaemonSpec,
  killChildren,
  type LoadResults,
  machineBusySeconds,
  unitEnvironment,
} from "./load.ts";

const WATCHDOG_MS = 15 * 60_000;
/** Above this much foreign CPU (% of one core) a section is flagged as measured on a busy machine. */
const NOISY_PCT = 20;
const OUT_DIR = fileURLToPath(new URL("../../bench-out/", import.meta.url));
const RESULTS_FILE = join(OUT_DIR, "results.json");
const PROFILE_DIR = join(OUT_DIR, "profile");

/**
 * The Rust drasyl-sp (--release, no prometheus feature) measured side by side on the reference
 * machine with this generator, pinned to one core (issue 14): the midpoints of its ranges.
 */
const RUST = {
  helloUs: 8.7,
  firstContactUs: 73.5,
  relayUs: 4.0,
  steadyPct: 2.0,
  rssBaselineMb: 4.6,
  rss10kMb: 7.7,
  rssPer1000Mb: 0.25,
} as const;
const GOALS = {
  helloUs: 1.5 * RUST.helloUs,
  firstContactUs: 100,
  relayUs: 1.3 * RUST.relayUs,
  steadyPct: 3,
  rssBaselineMb: 35,
  rss10kMb: 45,
  rssPer1000Mb: 0.5,
} as const;

const TARGETS = {
  helloAckPerSec: 100_000,
  steadyCpuPct: 10,
  rssPer1000Mb: 4,
  /** "Close to" one UDP socket's throughput, read as: at least 80% of the echo server's packets/s. */
  relayVsEcho: 0.8,
} as const;

interface TargetRow {
  target: string;
  goal: string;
  measured: string;
  result: "PASS" | "MISS" | "n/a";
}

function heading(title: string): void {
  console.log(`\n=== ${title} ===`);
}

function verdict(ok: boolean | undefined): TargetRow["result"] {
  return ok === undefined ? "n/a" : ok ? "PASS" : "MISS";
}

function fmt(n: number, digits = 0): string {
  return Number.isFinite(n)
    ? n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : "n/a";
}

function ms(us: number): string {
  return `${fmt(us / 1000, 2)} ms`;
}

function printCrypto(aegis: ReturnType<typeof benchAegis>, hello: HelloBench, pow: PowBench): void {
  heading("1a. AEGIS-256X2 (74-byte AD, in-process)");
  console.table(aegis.map((r) => ({ op: r.op, bytes: r.size, "ops/s": r.opsPerSec, "MB/s": r.mbPerSec })));
  heading("1b. HELLO -> ACK (in-process, one armed 161-byte HELLO, fresh copy per iteration)");
  console.table(hello.rows.map((r) => ({ path: r.name, "ops/s": r.opsPerSec, "µs/op": r.usPerOp, note: r.note })));
  const m = hello.memory;
  console.log(
    `peer table after ${m.peers} new peers, forced GC: ${fmt(m.heapBytesPerPeer)} B heap + ${fmt(m.externalBytesPerPeer)} B external per peer` +
      ` (= ${fmt((m.heapBytesPerPeer + m.externalBytesPerPeer) / 1024, 2)} MB per 1000 peers);` +
      ` the shared peer and pair tables, allocated once, take ${fmt(m.sharedBytesPerSlot)} B per slot`,
  );
  heading(`1c. Proof of work, difficulty ${pow.difficulty}, ${pow.workers} workers`);
  console.table(
    pow.runs.map((r, i) => ({
      run: i + 1,
      seconds: r.seconds ?? "timed out",
      "MH/s": r.hashesPerSec === null ? "-" : fmt(r.hashesPerSec / 1e6, 1),
    })),
  );
  console.log(
    `mean ${pow.meanSeconds ?? "-"} s, min ${pow.minSeconds ?? "-"} s, max ${pow.maxSeconds ?? "-"} s; ${pow.meanMegaHashesPerSec ?? "-"} MH/s (expected time at this rate: ${pow.meanMegaHashesPerSec ? fmt(2 ** pow.difficulty / (pow.meanMegaHashesPerSec * 1e6), 1) : "-"} s)`,
  );
}

/** The rows of issue 14's table for one daemon run. */
function daemonRows(
  d: DaemonRun,
): { measure: string; value: number; unit: string; goal: number; rust: number; extra: string }[] {
  const s10 = d.steps[d.steps.length - 1];
  return [
    {
      measure: "armed HELLO -> ACK, known peer (daemon CPU/pkt)",
      value: d.helloMax.daemonCpuUsPerPacket,
      unit: "µs",
      goal: GOALS.helloUs,
      rust: RUST.helloUs,
      extra: `${fmt(d.helloMax.perSec)}/s at ${d.helloMax.daemonCpuPct}% daemon CPU (kernel ${d.helloMax.daemonSysUsPerPacket} µs/pkt), gen ${d.helloMax.generatorCpuPct}%`,
    },
    {
      measure: "first contact of a new peer (daemon CPU/peer)",
      value: d.firstContact.daemonCpuUsPerPacket,
      unit: "µs",
      goal: GOALS.firstContactUs,
      rust: RUST.firstContactUs,
      extra: `${fmt(d.firstContact.ackPerSec)} new peers/s at ${d.firstContact.daemonCpuPct}% (kernel ${d.firstContact.daemonSysUsPerPacket} µs/peer)`,
    },
    {
      measure: "relayed APP, 1000 B (daemon CPU/pkt)",
      value: d.relayMax.daemonCpuUsPerPacket,
      unit: "µs",
      goal: GOALS.relayUs,
      rust: RUST.relayUs,
      extra: `${fmt(d.relayMax.perSec)}/s at ${d.relayMax.daemonCpuPct}% daemon CPU (kernel ${d.relayMax.daemonSysUsPerPacket} µs/pkt), gen ${d.relayMax.generatorCpuPct}%`,
    },
    {
      measure: "10k peers, one HELLO each per 5 s",
      value: d.steady.daemonCpuPct,
      unit: "% core",
      goal: GOALS.steadyPct,
      rust: RUST.steadyPct,
      extra: `${fmt(d.steady.ackPerSec)} ACK/s, ${d.steady.lost} lost, p99 ${ms(d.steady.p99Us)}`,
    },
    {
      measure: "RSS baseline (100 peers)",
      value: d.baseline.rssMb,
      unit: "MB",
      goal: GOALS.rssBaselineMb,
      rust: RUST.rssBaselineMb,
      extra: `of which file-backed (the program binary, shared) ${d.baseline.rssFileMb} MB`,
    },
    {
      measure: "RSS at 10k peers",
      value: s10?.rssMb ?? NaN,
      unit: "MB",
      goal: GOALS.rss10kMb,
      rust: RUST.rss10kMb,
      extra: `peak (VmHWM) ${d.peakRssMb} MB; file-backed ${s10?.rssFileMb} MB`,
    },
    {
      measure: "RSS marginal per 1000 peers (1k -> 10k)",
      value: d.marginalRssPer1000Mb,
      unit: "MB",
      goal: GOALS.rssPer1000Mb,
      rust: RUST.rssPer1000Mb,
      extra: "",
    },
  ];
}

function printLoad(l: LoadResults): void {
  heading("2a. Load setup");
  console.log(
    `simulated peers: ${l.keygen.peers}, keys + sessions generated in ${fmt(l.keygen.keygenMs)} ms (${l.keygen.keygenUsPerPeer} µs/peer, 2 threads)`,
  );
  for (const d of l.daemons) {
    const tuning = Object.entries(d.tuning)
      .map(([k, v]) => `${k}="${v}" `)
      .join("");
    console.log(`${d.label}: ${tuning}${d.cpus === undefined ? "" : `taskset -c ${d.cpus} `}${d.argv.join(" ")}`);
  }
  console.log(
    "daemon CPU is read from /proc/<pid>/stat over each phase's window; µs/pkt = daemon CPU / packets answered or relayed.",
  );

  heading("2b. Issue 14 table: ours vs goal (Rust figures from the issue's side-by-side run)");
  const table: Record<string, string | number>[] = [];
  const rows = l.daemons.map(daemonRows);
  (rows[0] ?? []).forEach((r0, i) => {
    const line: Record<string, string | number> = { measure: r0.measure };
    l.daemons.forEach((d, k) => {
      const r = rows[k]?.[i];
      line[d.label] = r === undefined ? "-" : `${fmt(r.value, r.unit === "MB" ? 1 : 1)} ${r.unit}`;
    });
    line.goal = `<= ${fmt(r0.goal, 1)} ${r0.unit}`;
    line["Rust (issue)"] = `${fmt(r0.rust, 2)} ${r0.unit}`;
    table.push(line);
  });
  console.table(table);

  heading("2c. Details per daemon");
  for (const [k, d] of l.daemons.entries()) {
    console.log(`-- ${d.label}`);
    for (const r of rows[k] ?? []) if (r.extra) console.log(`   ${r.measure}: ${r.extra}`);
    console.log(
      `   relay paced 2000 pkt/s: p50 ${ms(d.relayPaced.p50Us)}, p99 ${ms(d.relayPaced.p99Us)}, loss ${d.relayPaced.lossPct}%, ${d.relayPaced.daemonCpuUsPerPacket} µs/pkt; UNITEs ${d.relayPaced.unites}`,
    );
    console.log(
      `   saturation stalls (windows reopened after 200 ms without reply): HELLO ${d.helloMax.stalls}, relay ${d.relayMax.stalls}`,
    );
    console.log(`   registration: ${d.steps.map((s) => `${fmt(s.peers)} peers -> ${s.rssMb} MB`).join(", ")}`);
  }
  console.log(
    `echo ceiling (one Node UDP socket, ${l.echo.packetSize} B, same generator): ${fmt(l.echo.pps)} pkt/s, ${l.echo.daemonCpuUsPerPacket} µs/pkt server CPU`,
  );
  const quiet = Math.max(...l.daemons.map((d) => d.steady.othersCpuPct), l.echo.othersCpuPct);
  if (quiet > NOISY_PCT)
    console.log(
      `WARNING: up to ${quiet}% of a core went to other work during low-rate phases: the machine was shared, figures are pessimistic.`,
    );
}

function targets(hello: HelloBench | undefined, load: LoadResults | undefined): TargetRow[] {
  const rows: TargetRow[] = [];
  if (hello) {
    rows.push({
      target: "HELLO open + ACK build, handleUdp in-process (info)",
      goal: `>= ${fmt(TARGETS.helloAckPerSec)}/s`,
      measured: `${fmt(hello.helloAckPerSec)}/s`,
      result: verdict(hello.helloAckPerSec >= TARGETS.helloAckPerSec),
    });
    const perPeer = hello.memory.heapBytesPerPeer + hello.memory.externalBytesPerPeer + hello.memory.sharedBytesPerSlot;
    rows.push({
      target: "Peer table (SuperPeer only): heap after forced GC + shared tables per slot (info)",
      goal: `< ${GOALS.rssPer1000Mb} MB/1000`,
      measured: `${fmt((perPeer * 1000) / 2 ** 20, 2)} MB/1000 (${fmt(perPeer)} B/peer)`,
      result: "n/a",
    });
  }
  for (const d of load?.daemons ?? []) {
    for (const r of daemonRows(d))
      rows.push({
        target: `${d.label}: ${r.measure}`,
        goal: `<= ${fmt(r.goal, 1)} ${r.unit}`,
        measured: `${fmt(r.value, 1)} ${r.unit}`,
        result: verdict(Number.isFinite(r.value) ? r.value <= r.goal : undefined),
      });
  }
  const unpinned = load?.daemons.find((d) => d.cpus === undefined);
  if (unpinned) {
    // "More than Rust's throughput": what Rust's CPU cost allows on its one core.
    const rustHello = 1e6 / RUST.helloUs;
    const rustRelay = 1e6 / RUST.relayUs;
    rows.push({
      target: `${unpinned.label}: HELLO -> ACK throughput`,
      goal: `> ${fmt(rustHello)}/s (Rust, one core)`,
      measured: `${fmt(unpinned.helloMax.perSec)}/s`,
      result: verdict(unpinned.helloMax.perSec > rustHello),
    });
    rows.push({
      target: `${unpinned.label}: relay throughput`,
      goal: `> ${fmt(rustRelay)}/s (Rust, one core)`,
      measured: `${fmt(unpinned.relayMax.perSec)}/s`,
      result: verdict(unpinned.relayMax.perSec > rustRelay),
    });
  }
  return rows;
}

/**
 * This machine is shared: measures the CPU everyone but this process used from now until the
 * returned function is called, in % of one core. In-process figures are only comparable between
 * runs when that stays low.
 */
function startNoiseMeter(): () => number {
  const t0 = performance.now();
  const m0 = machineBusySeconds();
  const own0 = process.cpuUsage();
  return () => {
    const own = process.cpuUsage(own0);
    const seconds = (performance.now() - t0) / 1000;
    const others = machineBusySeconds() - m0 - (own.user + own.system) / 1e6;
    return Math.round((Math.max(0, others) / seconds) * 1000) / 10;
  };
}

function meta(): Record<string, unknown> {
  let commit: string | undefined;
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
  } catch {
    commit = undefined;
  }
  return {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model,
    cores: cpus().length,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    commit,
  };
}

interface Args {
  only: "crypto" | "load" | undefined;
  daemons: string[];
  profile: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { only: undefined, daemons: [], profile: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === "crypto" || a === "load") args.only = a;
    else if (a === "--profile") args.profile = true;
    else if (a === "--daemon" || a.startsWith("--daemon=")) {
      const cmd = a === "--daemon" ? argv[++i] : a.slice("--daemon=".length);
      if (!cmd) throw new Error('--daemon needs a command, e.g. --daemon "/usr/local/bin/drasyl-sp"');
      args.daemons.push(cmd);
    } else throw new Error(`unknown argument "${a}" (usage: [crypto|load] [--daemon "<command>"]... [--profile])`);
  }
  return args;
}

/**
 * The Node the servers run (what stacks/install ships), for the rows that matter in production and
 * for DRASYL_WORKERS > 1, which needs its dgram reusePort; this machine's Node when it cannot be had.
 */
async function shippedNode(): Promise<{ path: string; version: string }> {
  try {
    return { path: await nodeRuntime(process.arch === "arm64" ? "arm64" : "x64"), version: NODE_RUNTIME.version };
  } catch (e) {
    process.stderr.write(
      `[bench] no Node ${NODE_RUNTIME.version} (${(e as Error).message}); using ${process.version}\n`,
    );
    return { path: process.execPath, version: process.versions.node };
  }
}

/**
 * The bundle pinned to one core under this machine's Node and under the shipped one, the bundle
 * unpinned with DRASYL_WORKERS=2 under the shipped one, then each --daemon command pinned to the
 * same core.
 */
async function daemonSpecs(args: Args): Promise<DaemonSpec[]> {
  const bundle = daemonBundle();
  // The unit's runtime tuning; a --daemon command brings its own.
  const env = unitEnvironment();
  const profileArgs = args.profile ? ["--cpu-prof", `--cpu-prof-dir=${PROFILE_DIR}`, "--trace-gc"] : [];
  const shipped = await shippedNode();
  // The profile is taken of what servers run: the pinned bundle under the shipped Node.
  const pinned = (node: string, version: string, profiled: boolean): DaemonSpec => ({
    label: `bundle, 1 core, Node ${version}`,
    argv: [node, ...(profiled ? profileArgs : []), bundle],
    cpus: "0",
    env,
    stdoutFile: profiled && args.profile ? join(PROFILE_DIR, "trace-gc.log") : undefined,
  });
  const specs: DaemonSpec[] = [pinned(process.execPath, process.versions.node, shipped.path === process.execPath)];
  if (shipped.path !== process.execPath) specs.push(pinned(shipped.path, shipped.version, true));
  specs.push({
    label: `bundle, 2 workers, Node ${shipped.version}`,
    argv: [shipped.path, bundle],
    env: { ...env, DRASYL_WORKERS: "2" },
  });
  args.daemons.forEach((cmd, i) =>
    specs.push({ label: `--daemon #${i + 1}, 1 core`, argv: ["sh", "-c", `exec ${cmd}`], cpus: "0" }),
  );
  return specs;
}

/** Self time per function of the largest .cpuprofile in PROFILE_DIR: what a flame graph's widest leaves show. */
function summariseProfile(): string {
  const files = readdirSync(PROFILE_DIR).filter((f) => f.endsWith(".cpuprofile"));
  if (files.length === 0) return "no .cpuprofile written";
  const file = files
    .map((f) => ({ f, text: readFileSync(join(PROFILE_DIR, f), "utf8") }))
    .sort((a, b) => b.text.length - a.text.length)[0] as { f: string; text: string };
  const profile = JSON.parse(file.text) as {
    nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const n = byId.get(id);
    const dt = profile.timeDeltas[i] ?? 0;
    if (!n) return;
    const name = `${n.callFrame.functionName || "(anonymous)"} ${n.callFrame.url.split("/").pop() ?? ""}:${n.callFrame.lineNumber + 1}`;
    self.set(name, (self.get(name) ?? 0) + dt);
    total += dt;
  });
  const lines = [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 30)
    .map(([name, t]) => `${((t / total) * 100).toFixed(1).padStart(5)}%  ${name}`);
  const summary = `${file.f}: self time, top 30 of ${fmt(total / 1000)} ms sampled\n${lines.join("\n")}\n`;
  writeFileSync(join(PROFILE_DIR, "top-functions.txt"), summary);
  return summary;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const only = args.only;
  mkdirSync(args.profile ? PROFILE_DIR : OUT_DIR, { recursive: true });
  const started = Date.now();
  let crypto:
    { aegis: ReturnType<typeof benchAegis>; hello: HelloBench; pow: PowBench; othersCpuPct: number } | undefined;
  let load: LoadResults | undefined;

  if (only !== "load") {
    process.stderr.write("[bench] section 1: crypto and codec\n");
    const noise = startNoiseMeter();
    const aegis = benchAegis();
    const hello = await benchHello();
    process.stderr.write("[bench] proof of work at difficulty 24 (a few seconds per run)\n");
    const pow = await benchPow();
    crypto = { aegis, hello, pow, othersCpuPct: noise() };
    printCrypto(aegis, hello, pow);
    console.log(`CPU used by other processes and the kernel during section 1: ${crypto.othersCpuPct}% of one core`);
    if (crypto.othersCpuPct > NOISY_PCT)
      console.log(`WARNING: the machine was busy with other work; section 1 figures are pessimistic.`);
  }
  if (only !== "crypto") {
    process.stderr.write("[bench] section 2: load\n");
    load = await benchLoad(await daemonSpecs(args));
    printLoad(load);
    if (args.profile) {
      heading(`Profile of the pinned bundle (${PROFILE_DIR})`);
      console.log(summariseProfile());
      const scavenges = (readFileSync(join(PROFILE_DIR, "trace-gc.log"), "utf8").match(/Scavenge/g) ?? []).length;
      console.log(`--trace-gc: ${scavenges} scavenges over the whole run (trace-gc.log)`);
    }
  }

  const targetRows = targets(crypto?.hello, load);
  heading("Targets");
  console.table(targetRows);
  const doc = {
    meta: { ...meta(), seconds: Math.round((Date.now() - started) / 1000) },
    crypto,
    load,
    targets: targetRows,
  };
  const json = JSON.stringify(doc, null, 2);
  writeFileSync(RESULTS_FILE, json + "\n");
  heading(`JSON (also in ${RESULTS_FILE})`);
  console.log(json);
}

const watchdog = setTimeout(() => {
  process.stderr.write(`[bench] watchdog: still running after ${WATCHDOG_MS / 1000} s, giving up\n`);
  killChildren();
  process.exit(1);
}, WATCHDOG_MS);
watchdog.unref();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    killChildren();
    process.exit(130);
  });
}

try {
  await main();
} catch (e) {
  killChildren();
  process.stderr.write(`[bench] failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
}
