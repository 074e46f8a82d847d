import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import type { Worker } from "node:worker_threads";
import type { Identity } from "../identity/identity.ts";
import { generateIdentity } from "../identity/identity.ts";
import { loadIdentityFile, saveIdentityFile } from "../identity/identity-file.ts";
import { bytesToHex } from "../util/hex.ts";
import type { ListenAddress, SuperPeerConfig } from "./config.ts";
import type { Logger } from "./log.ts";
import type { Metrics } from "./metrics.ts";
import { formatListening, formatPeers, listeningUrls } from "./output.ts";
import { sharedState } from "./shared-state.ts";
import { SuperPeer } from "./super-peer.ts";
import { TcpService } from "./tcp.ts";
import { bindUdp, type UdpListener } from "./udp.ts";
import { startWorker, workerCount } from "./worker.ts";

export class StartupError extends Error {
  override readonly name = "StartupError";
}

/**
 * Loads the identity, or creates one as Rust does unless the deployment said it must exist: a
 * deployed super peer that silently made itself a new key would strand every client.
 */
export async function obtainIdentity(config: SuperPeerConfig, log: Logger): Promise<Identity> {
  const existing = loadIdentityFile(config.identityFile);
  if (existing) return existing;
  if (config.identityRequired) {
    throw new StartupError(
      `identity file ${config.identityFile} does not exist and DRASYL_IDENTITY_REQUIRED=true: refusing to create a new identity, ` +
        "because a new key would change this super peer's public key for every client. Restore the identity file " +
        "(drasyl-deploy keeps a backup) or unset DRASYL_IDENTITY_REQUIRED to generate a fresh one.",
    );
  }
  log.info("identity file not found, generating a new identity", {
    file: config.identityFile,
    difficulty: config.minPowDifficulty,
  });
  const identity = await generateIdentity({ difficulty: config.minPowDifficulty });
  saveIdentityFile(config.identityFile, identity);
  log.info("new identity saved", { file: config.identityFile, publicKey: identity.publicKeyHex });
  return identity;
}

export interface RunningSuperPeer {
  readonly sp: SuperPeer;
  readonly urls: string[];
  readonly udp: UdpListener[];
  /** UDP worker threads besides the main thread (worker 0). */
  readonly workers: number;
  /** Bound addresses, with real ports when 0 was configured. */
  readonly bound: {
    udp4?: ListenAddress;
    udp6?: ListenAddress;
    tcp4?: ListenAddress;
    tcp6?: ListenAddress;
    prometheus?: ListenAddress;
  };
  close(): Promise<void>;
}

function boundOf(info: AddressInfo | string | null, fallback: ListenAddress): ListenAddress {
  return info && typeof info === "object" ? { host: fallback.host, port: info.port } : fallback;
}

export interface StartOptions {
  /** The script a UDP worker thread runs (the bundle itself); without one the daemon runs one worker. */
  workerScript?: string;
  /** A worker thread died after startup: the daemon is no longer whole (main.ts exits so systemd restarts it). */
  onWorkerExit?: (worker: number, error: Error) => void;
}

export async function startSuperPeer(
  config: SuperPeerConfig,
  identity: Identity,
  log: Logger,
  stdout: (text: string) => void = (t) => process.stdout.write(t),
  options: StartOptions = {},
): Promise<RunningSuperPeer> {
  const workers = workerCount(config, log, options.workerScript);
  let shared;
  try {
    shared = sharedState(config.maxPeers, workers);
  } catch (e) {
    throw new StartupError(
      `cannot allocate the peer table for DRASYL_MAX_PEERS=${config.maxPeers} and ${workers} worker(s): ${(e as Error).message}; lower DRASYL_MAX_PEERS`,
    );
  }
  const sp = new SuperPeer(identity, config, log, Date.now, shared, 0);
  const udp: UdpListener[] = [];
  const threads: Worker[] = [];
  let closing = false;
  const tcp = new TcpService(
    sp,
    { maxConnections: config.maxPeers, maxFrame: config.tcpMaxFrame, maxBuffered: config.tcpMaxBuffered },
    log,
  );
  const bound: RunningSuperPeer["bound"] = {};
  const timers: NodeJS.Timeout[] = [];
  let metricsServer: Server | undefined;

  const close = async (): Promise<void> => {
    closing = true;
    for (const t of timers) clearInterval(t);
    await Promise.all(threads.map((w) => w.terminate()));
    for (const l of udp) l.socket.close();
    await tcp.close();
    if (metricsServer) await new Promise<void>((resolve) => metricsServer?.close(() => resolve()));
  };

  try {
    if (config.udp4Listen) {
      const l = await bindUdp(sp, config.udp4Listen, 4, false, log, workers > 1);
      udp.push(l);
      bound.udp4 = boundOf(l.socket.address(), config.udp4Listen);
    }
    if (config.udp6Listen) {
      const l = await bindUdp(sp, config.udp6Listen, 6, config.udp4Listen !== undefined, log, workers > 1);
      udp.push(l);
      bound.udp6 = boundOf(l.socket.address(), config.udp6Listen);
    }
    if (config.tcp4Listen)
      bound.tcp4 = boundOf((await tcp.listen(config.tcp4Listen, false)).address(), config.tcp4Listen);
    if (config.tcp6Listen)
      bound.tcp6 = boundOf(
        (await tcp.listen(config.tcp6Listen, config.tcp4Listen !== undefined)).address(),
        config.tcp6Listen,
      );

    for (let w = 1; w < workers; w++) {
      const data = {
        kind: "drasyl-sp-worker" as const,
        config: { ...config, udp4Listen: bound.udp4, udp6Listen: bound.udp6 },
        secretKey: identity.secretKey,
        pow: identity.pow,
        shared,
        worker: w,
      };
      const thread = await startWorker(options.workerScript as string, data, sp);
      threads.push(thread);
      thread.on("error", (e) => {
        if (!closing) options.onWorkerExit?.(w, e);
      });
      thread.on("exit", (code) => {
        if (!closing) options.onWorkerExit?.(w, new Error(`exited with code ${code}`));
      });
    }

    // Without an exporter nobody reads the metrics, so nothing is collected, and prom-client (~10 MB
    // of RSS once loaded) is not even loaded.
    let metrics: Metrics | undefined;
    if (config.prometheusListen) {
      const { Metrics, serveMetrics } = await import("./metrics.ts");
      metrics = new Metrics(sp, tcp);
      metricsServer = await serveMetrics(metrics, config.prometheusListen, config.prometheusToken, log);
      bound.prometheus = boundOf(metricsServer.address(), config.prometheusListen);
    }

    const urls = listeningUrls(
      { ...config, udp4Listen: bound.udp4, udp6Listen: bound.udp6, tcp4Listen: bound.tcp4, tcp6Listen: bound.tcp6 },
      bytesToHex(identity.publicKey),
    );
    stdout(formatListening(urls));
    log.info("super peer started", {
      publicKey: identity.publicKeyHex,
      networkId: config.networkId,
      armMessages: config.armMessages,
      workers,
    });

    timers.push(
      setInterval(() => {
        sp.housekeeping();
        const closed = tcp.closeIdle(config.helloTimeout);
        if (closed > 0) log.debug("closed idle tcp connections", { count: closed });
        metrics?.tick();
      }, config.housekeepingInterval),
    );
    if (config.peersPrintInterval > 0)
      timers.push(setInterval(() => stdout(formatPeers(sp.peers.values(), Date.now())), config.peersPrintInterval));
    for (const t of timers) t.unref();
    return { sp, urls, udp, workers: threads.length, bound, close };
  } catch (e) {
    await close();
    const err = e as NodeJS.ErrnoException;
    if (err.code === "EADDRINUSE" || err.code === "EACCES" || err.code === "EADDRNOTAVAIL") {
      throw new StartupError(
        `cannot listen: ${err.message} (check the DRASYL_*_LISTEN addresses and that nothing else uses the port)`,
      );
    }
    throw e;
  }
}
