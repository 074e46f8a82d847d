import { forgetHostKey } from "../../stacks/install/host-keys.ts";
import { listServers, openDeployment } from "../deployment.ts";
import { configOption, type Register } from "../options.ts";

/** After a legitimate host key change (a rebuilt server): drop the pin so the next contact pins anew. */
export async function forgetHost(name: string, opts: { config?: string; stateDir: string }): Promise<number> {
  const d = openDeployment(opts.config, opts.stateDir);
  const server = (await listServers(d)).find((s) => s.name === name);
  if (!server) {
    process.stderr.write(`No server "${name}" in deployment "${d.config.deployment}".\n`);
    return 1;
  }
  const removed = forgetHostKey(d.state.knownHostsFile, server.ssh.host, server.ssh.port);
  process.stderr.write(
    removed
      ? `Forgot the pinned host key of ${name} (${server.ssh.host}:${server.ssh.port}).\n`
      : `No host key was pinned for ${name}.\n`,
  );
  return 0;
}

export const registerForgetHost: Register = (program, globals) => {
  program
    .command("forget-host <server>")
    .description("forget a server's pinned SSH host key after a legitimate change")
    .addOption(configOption())
    .action(async (server: string, o: { config?: string }) => {
      process.exitCode = await forgetHost(server, { ...o, stateDir: globals().stateDir });
    });
};
