#!/usr/bin/env node
import { Command } from "commander";
import { registerDestroy } from "./commands/destroy.ts";
import { registerForgetHost } from "./commands/forget-host.ts";
import { registerInit } from "./commands/init.ts";
import { registerIdentity } from "./commands/identity.ts";
import { registerInstallPulumi } from "./commands/install-pulumi.ts";
import { registerLogs } from "./commands/logs.ts";
import { registerMonitoring } from "./commands/monitoring.ts";
import { registerMove } from "./commands/move.ts";
import { registerPeers } from "./commands/peers.ts";
import { registerRollout } from "./commands/rollout.ts";
import { registerSandbox } from "./commands/sandbox.ts";
import { registerStatus } from "./commands/status.ts";
import { registerUp } from "./commands/up.ts";
import type { GlobalOptions } from "./options.ts";
import { defaultStateDir } from "../stacks/state/state-dir.ts";

const program = new Command()
  .name("drasyl-deploy")
  .description("Run your own drasyl super peers")
  .option(
    "--state-dir <dir>",
    "where identities, pinned host keys and deployment state are kept",
    process.env.DRASYL_DEPLOY_STATE_DIR ?? defaultStateDir(),
  )
  .showHelpAfterError();

const globals = (): GlobalOptions => program.opts<GlobalOptions>();
for (const register of [
  registerInit,
  registerUp,
  registerRollout,
  registerStatus,
  registerPeers,
  registerLogs,
  registerMonitoring,
  registerDestroy,
  registerIdentity,
  registerMove,
  registerForgetHost,
  registerInstallPulumi,
  registerSandbox,
])
  register(program, globals);

try {
  await program.parseAsync();
} catch (e) {
  // Expected failures (bad config, lock held, no root for the lab...) carry their own explanation.
  const err = e as Error;
  process.stderr.write(`drasyl-deploy: ${err.message}\n`);
  if (process.env.DRASYL_DEPLOY_DEBUG) process.stderr.write(`${err.stack ?? ""}\n`);
  process.exitCode = 2;
}
