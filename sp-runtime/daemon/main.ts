#!/usr/bin/env node
import { fileURLToPath } from "node:url";
import { isMainThread, workerData } from "node:worker_threads";
import { IdentityFileError } from "../identity/identity-file.ts";
import { ConfigError, loadConfig } from "./config.ts";
import { obtainIdentity, startSuperPeer, StartupError } from "./daemon.ts";
import { Logger } from "./log.ts";
import { isWorkerData, runWorker } from "./worker.ts";

/** drasyl-sp: configured by the Rust super peer's DRASYL_* variables, so its unit files work unchanged. */
async function main(): Promise<void> {
  let log = new Logger("info");
  try {
    const config = loadConfig();
    log = new Logger(config.logLevel);
    const identity = await obtainIdentity(config, log);
    // The UDP worker threads run this same file (in production the single-file bundle).
    const running = await startSuperPeer(config, identity, log, undefined, {
      workerScript: fileURLToPath(import.meta.url),
      onWorkerExit: (worker, error) => {
        log.error("worker thread died; exiting so that the service manager restarts the whole daemon", {
          worker,
          error: error.message,
        });
        process.exit(70);
      },
    });
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      log.info("shutting down", { signal });
      running.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));
  } catch (e) {
    if (e instanceof ConfigError || e instanceof IdentityFileError || e instanceof StartupError) {
      log.error(e.message);
      process.exitCode = 1;
      return;
    }
    throw e;
  }
}

async function startMain(): Promise<void> {
  process.on("uncaughtException", (err) => {
    // A bug must not take every relayed session down with it silently: log, then let systemd restart us.
    process.stderr.write(
      `ts=${new Date().toISOString()} level=error msg="uncaught exception" error=${JSON.stringify(String(err?.stack ?? err))}\n`,
    );
    process.exit(70);
  });
  await main();
}

if (!isMainThread && isWorkerData(workerData)) {
  await runWorker(workerData);
} else {
  await startMain();
}
