#!/usr/bin/env node
import { Command, InvalidArgumentError, Option } from "commander";
import { destroy } from "./commands/destroy.ts";
import { forgetHost } from "./commands/forget-host.ts";
import { monitoring } from "./commands/monitoring.ts";
import { peers } from "./commands/peers.ts";
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
  .action(async (o: { config?: string; dryRun: boolean; adoptIdentity: string[]; replaceIdentity: string[] }) => {
    process.exitCode = await up({ ...o, stateDir: global().stateDir });
  });

program
  .command("status")
  .description("per super peer: systemd state, release, public key, UDP and TCP probes with RTT")
  .addOption(configOption())
  .option("--json", "machine-readable output", false)
  .option("--metrics", "also read each super peer's key figures (peers, relayed traffic, drops, memory) from its metrics endpoint, through SSH", false)
  .action(async (o: { config?: string; json: boolean; metrics: boolean }) => {
    process.exitCode = await status({ ...o, stateDir: global().stateDir });
  });

program
  .command("peers")
  .description("print the DRASYL_SUPER_PEERS value for clients (only super peers that answer, unless --all)")
  .addOption(configOption())
  .option("--all", "include super peers that do not answer the probe", false)
  .addOption(new Option("--format <format>", "env (comma-separated), whitespace, lines, toml or json").choices(PEER_FORMATS).default("env"))
  .action(async (o: { config?: string; all: boolean; format: PeerFormat }) => {
    process.exitCode = await peers({ ...o, stateDir: global().stateDir });
  });

program
  .command("destroy")
  .description("remove the servers drasyl-deploy created (lab or cloud); identities stay in the local state")
  .addOption(configOption())
  .option("-y, --yes", "do not ask for the deployment name", false)
  .action(async (o: { config?: string; yes: boolean }) => {
    process.exitCode = await destroy({ ...o, stateDir: global().stateDir });
  });

program
  .command("monitoring")
  .description("write Prometheus scrape targets (file_sd), alert rules and a Grafana dashboard for the deployment's super peers")
  .addOption(configOption())
  .option("-o, --out <dir>", "output directory (default: <state dir>/deployments/<deployment>/monitoring)")
  .option("--files-at <dir>", "absolute path the files will have on the Prometheus host (default: the output directory)")
  .option("--drop-rate <n>", "dropped packets/s per super peer that raise an alert", (v: string) => {
    const n = Number(v);
    if (!(n > 0)) throw new InvalidArgumentError("must be a positive number");
    return n;
  })
  .action(async (o: { config?: string; out?: string; filesAt?: string; dropRate?: number }) => {
    process.exitCode = await monitoring({ ...o, stateDir: global().stateDir });
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
