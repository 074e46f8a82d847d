import { availableParallelism } from "node:os";
import { parentPort, Worker } from "node:worker_threads";
import { Identity } from "../identity/identity.ts";
import type { SuperPeerConfig } from "./config.ts";
import { Logger } from "./log.ts";
import type { SharedState } from "./shared-state.ts";
import { SuperPeer } from "./super-peer.ts";
import { bindUdp, hasReusePort } from "./udp.ts";

/** What the main thread hands a UDP worker thread; `config` carries the ports actually bound. */
export interface WorkerData {
  readonly kind: "drasyl-sp-worker";
  readonly config: SuperPeerConfig;
  readonly secretKey: Uint8Array;
  readonly pow: number;
  readonly shared: SharedState;
  readonly worker: number;
}

/** A packet for a TCP-connected peer, which only the main thread can reach. */
interface TcpForward {
  readonly tcp: number;
  readonly pkt: Uint8Array;
}

/**
 * How many UDP workers to run: DRASYL_WORKERS, else one per CPU this process may use. More than one
 * needs Linux (SO_REUSEPORT spreads datagrams by source), a Node with dgram reusePort and a script
 * for the threads to run; without one of them the daemon says so once and runs one worker.
 */
export function workerCount(config: SuperPeerConfig, log: Logger, script: string | undefined): number {
  const explicit = config.workers > 0;
  const wanted = explicit ? config.workers : availableParallelism();
  if (wanted <= 1 || (!config.udp4Listen && !config.udp6Listen)) return 1;
  let reason: string | undefined;
  if (process.platform !== "linux")
    reason = `SO_REUSEPORT load spreading is used on Linux only (this is ${process.platform})`;
  else if (!hasReusePort())
    reason = `Node ${process.version} has no dgram reusePort (it came with Node 22.12 and 23.1; the runtime drasyl-deploy ships has it)`;
  else if (script === undefined) reason = "no worker script (the daemon was started as a library)";
  if (reason === undefined) return wanted;
  log[explicit ? "warn" : "info"](`running 1 worker instead of ${wanted}: ${reason}`, {
    DRASYL_WORKERS: explicit ? wanted : "default",
  });
  return 1;
}

/** Starts worker `data.worker` from `script` and resolves once its sockets are bound. */
export async function startWorker(script: string, data: WorkerData, sp: SuperPeer): Promise<Worker> {
  const worker = new Worker(script, { workerData: data });
  await new Promise<void>((resolve, reject) => {
    const fail = (e: Error): void => {
      worker.off("exit", exited);
      reject(e);
    };
    const exited = (code: number): void => {
      worker.off("error", fail);
      reject(new Error(`worker ${data.worker} exited with code ${code} while starting`));
    };
    worker.once("error", fail);
    worker.once("exit", exited);
    worker.once("message", () => {
      worker.off("error", fail);
      worker.off("exit", exited);
      resolve();
    });
  });
  worker.on("message", (m: TcpForward) => sp.sendTcp(m.tcp, m.pkt));
  return worker;
}

/** The body of a UDP worker thread: its own SuperPeer over the shared tables, its own sockets on the same port. */
export async function runWorker(data: WorkerData): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error("runWorker must run in a worker thread");
  const { config } = data;
  const log = new Logger(config.logLevel);
  const sp = new SuperPeer(new Identity(data.secretKey, data.pow), config, log, Date.now, data.shared, data.worker);
  sp.forwardTcp = (tcp, pkt) => port.postMessage({ tcp, pkt } satisfies TcpForward);
  if (config.udp4Listen) await bindUdp(sp, config.udp4Listen, 4, false, log, true);
  if (config.udp6Listen) await bindUdp(sp, config.udp6Listen, 6, config.udp4Listen !== undefined, log, true);
  port.postMessage("ready");
}

export function isWorkerData(data: unknown): data is WorkerData {
  return typeof data === "object" && data !== null && (data as WorkerData).kind === "drasyl-sp-worker";
}
