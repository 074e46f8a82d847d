#!/usr/bin/env node
import { Command, InvalidArgumentError } from "commander";
import { sandbox } from "./commands/sandbox.ts";
import { defaultStateDir } from "./state/dirs.ts";

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 65535) throw new InvalidArgumentError("must be a port number 1-65535");
  return n;
}

const program = new Command()
  .name("drasyl-deploy")
  .description("Run your own drasyl super peers")
  .option("--state-dir <dir>", "where identities and deployment state are kept", defaultStateDir())
  .showHelpAfterError();

program
  .command("sandbox")
  .description("start a local super peer, prove it answers over UDP and TCP, and print its DRASYL_SUPER_PEERS line")
  .option("--host <ip>", "address to listen on", "127.0.0.1")
  .option("--udp-port <port>", "UDP port", port, 22527)
  .option("--tcp-port <port>", "TCP fallback port", port, 8443)
  .option("--once", "exit after the probe instead of serving until Ctrl-C", false)
  .action(async (opts: { host: string; udpPort: number; tcpPort: number; once: boolean }) => {
    const { stateDir } = program.opts<{ stateDir: string }>();
    process.exitCode = await sandbox({ stateDir, ...opts });
  });

await program.parseAsync();
