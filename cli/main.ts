#!/usr/bin/env node
import { Command, InvalidArgumentError, Option } from "commander";
import { destroy } from "./commands/destroy.ts";
import { forgetHost } from "./commands/forget-host.ts";
import { logs } from "./commands/logs.ts";
import { peers } from "./commands/peers.ts";
import { rollout } from "./commands/rollout.ts";
import { sandbox } from "./commands/sandbox.ts";
import { status } from "./commands/status.ts";
import { up } from "./commands/up.ts";
import { PEER_FORMATS, type PeerFormat } from "./output/super-peers.ts";
import { defaultStateDir } from "./state/dirs.ts";
import { probeIdentity } from "./state/identities.ts";
import { useProbeIdentity } from "../sp-runtime/node/probe.ts";
import { installPulumiCli } from "../stacks/pulumi/preflight.ts";

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 65535) throw new InvalidArgumentError("must be a port number 1-65535");
  return n;
}

function count(min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min) throw new InvalidArgumentError(`must be a whole number >= ${min}`);
    return n;
  };
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

const program = new Command()
  .name("drasyl-deploy")
  .description("Run your own drasyl super peers")
  .option("--state-dir <dir>", "where identities, pinned host keys and deployment state are kept", process.env.DRASYL_DEPLOY_STATE_DIR ?? defaultStateDir())
  .showHelpAfterError();

const global = (): { stateDir: string } => program.opts<{ stateDir: string }>();
program.hook("preAction", () => useProbeIdentity(() => probeIdentity(global().stateDir)));
const configOption = (): Option => new Option("-c, --config <file>", "deployment config (default: ./drasyl-deploy.yaml, else the built-in local sandbox)");

program
  .command("up")
  .description("create the servers if needed, install or update a super peer on each, verify it, print DRASYL_SUPER_PEERS")
  .addOption(configOption())
  .option("--dry-run", "show what would be created and the install plan per server; change nothing", false)
  .option("--adopt-identity <server>", "keep the identity a server already holds (copied into the local state)", collect, [])
  .option("--replace-identity <server>", "replace the identity a server holds with the local one (the old one is kept on the server)", collect, [])
  .option("-y, --yes", "remove servers that left the config without asking", false)
  .action(async (o: { config?: string; dryRun: boolean; adoptIdentity: string[]; replaceIdentity: string[]; yes: boolean }) => {
    process.exitCode = await up({ ...o, stateDir: global().stateDir, argv: process.argv.slice(2) });
  });

program
  .command("rollout")
  .description("upgrade the running super peers a batch at a time (canary first), gating each batch by the drasyl protocol; roll a failed batch back and stop")
  .addOption(configOption())
  .option("--release <path|current>", "the super peer bundle to roll out (default: current, the one drasyl-deploy ships)")
  .option("--batch <n>", "servers upgraded at once after the canary (default 1)", count(1))
  .option("--canary <server>", "the server upgraded and gated first, alone (default: the first in order)")
  .option("--soak <seconds>", "how long each upgraded super peer must keep running unrestarted (default 30)", count(0))
  .option("--dry-run", "print the batches and their order; change nothing", false)
  .option("--resume", "continue a stopped rollout (same release file, order and options) after a fix", false)
  .option("--json", "one JSON object per event on stdout", false)
  .action(async (o: { config?: string; release?: string; batch?: number; canary?: string; soak?: number; dryRun: boolean; resume: boolean; json: boolean }) => {
    process.exitCode = await rollout({ ...o, stateDir: global().stateDir, argv: process.argv.slice(2) });
  });

program
  .command("status")
  .description("per super peer: systemd state, release, public key, UDP and TCP probes with RTT")
  .addOption(configOption())
  .option("--json", "machine-readable output", false)
  .action(async (o: { config?: string; json: boolean }) => {
    process.exitCode = await status({ ...o, stateDir: global().stateDir });
  });

program
  .command("peers")
  .description("print the DRASYL_SUPER_PEERS value for clients (only super peers that answer, unless --all)")
  .addOption(configOption())
  .option("--all", "include super peers that do not answer the probe", false)
  .addOption(new Option("--format <format>", "env (comma-separated), whitespace, lines, toml or json").choices(PEER_FORMATS).default("env"))
  .option("--diff", "how the value changed with the last up that changed it: added, removed, public key changed", false)
  .action(async (o: { config?: string; all: boolean; format: PeerFormat; diff: boolean }) => {
    process.exitCode = await peers({ ...o, stateDir: global().stateDir });
  });

program
  .command("logs [server]")
  .description("the super peers' journal (journalctl -u drasyl-sp) over SSH, from one server or all, one prefix per server")
  .addOption(configOption())
  .option("-f, --follow", "keep printing new lines until Ctrl-C", false)
  .option("--since <time>", 'from this time on, as journalctl takes it ("1 hour ago", "2026-12-04 10:00", "today")')
  .option("-n, --lines <n>", "how many of the last lines without --since (default 50)", count(1))
  .action(async (server: string | undefined, o: { config?: string; follow: boolean; since?: string; lines?: number }) => {
    process.exitCode = await logs({ ...o, ...(server !== undefined ? { server } : {}), stateDir: global().stateDir });
  });

program
  .command("destroy")
  .description("remove the servers drasyl-deploy created (lab or cloud); identities stay in the local state")
  .addOption(configOption())
  .option("-y, --yes", "do not ask for the deployment name", false)
  .action(async (o: { config?: string; yes: boolean }) => {
    process.exitCode = await destroy({ ...o, stateDir: global().stateDir, argv: process.argv.slice(2) });
  });

program
  .command("forget-host <server>")
  .description("forget a server's pinned SSH host key after a legitimate change")
  .addOption(configOption())
  .action(async (server: string, o: { config?: string }) => {
    process.exitCode = await forgetHost(server, { ...o, stateDir: global().stateDir });
  });

program
  .command("install-pulumi")
  .description("download the Pulumi CLI that matches drasyl-deploy's SDK into ~/.pulumi/versions (needs internet access to get.pulumi.com)")
  .action(async () => {
    const cli = await installPulumiCli();
    process.stderr.write(`Pulumi CLI ${cli.version?.toString() ?? ""} installed at ${cli.command}\n`);
  });

program
  .command("sandbox")
  .description("start one local super peer without root, prove it answers over UDP and TCP, print its DRASYL_SUPER_PEERS line")
  .option("--host <ip>", "address to listen on", "127.0.0.1")
  .option("--udp-port <port>", "UDP port", port, 22527)
  .option("--tcp-port <port>", "TCP fallback port", port, 8443)
  .option("--once", "exit after the probe instead of serving until Ctrl-C", false)
  .action(async (o: { host: string; udpPort: number; tcpPort: number; once: boolean }) => {
    process.exitCode = await sandbox({ stateDir: global().stateDir, ...o });
  });

try {
  await program.parseAsync();
} catch (e) {
  // Expected failures (bad config, lock held, no root for the lab...) carry their own explanation.
  const err = e as Error;
  process.stderr.write(`drasyl-deploy: ${err.message}\n`);
  if (process.env.DRASYL_DEPLOY_DEBUG) process.stderr.write(`${err.stack ?? ""}\n`);
  process.exitCode = 2;
}
