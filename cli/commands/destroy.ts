import { createInterface } from "node:readline/promises";
import { forgetHostKey } from "../../stacks/install/host-keys.ts";
import { openDeployment } from "../deployment.ts";
import { Progress } from "../output/progress.ts";
import { configOption, type Register } from "../options.ts";
import { appendAudit } from "../../stacks/state/audit.ts";
import { lockDeployment } from "../../stacks/state/lock.ts";

export interface DestroyOptions {
  config?: string;
  stateDir: string;
  yes: boolean;
  /** The command line, for the audit log. */
  argv?: string[];
}

async function confirmed(deployment: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(
      `This removes the servers of deployment "${deployment}". Identities stay in the local state.\nType the deployment name to confirm: `,
    );
    return answer.trim() === deployment;
  } finally {
    rl.close();
  }
}

/** Removes what drasyl-deploy created; identities stay in the local state so the keys survive. */
export async function destroy(opts: DestroyOptions): Promise<number> {
  const d = openDeployment(opts.config, opts.stateDir);
  if (!opts.yes && !(await confirmed(d.config.deployment))) {
    process.stderr.write(
      `Not confirmed: nothing removed. Without a terminal, pass --yes to destroy "${d.config.deployment}".\n`,
    );
    return 1;
  }
  const unlock = lockDeployment(d.state);
  const gone: string[] = [];
  let code = 1;
  try {
    const progress = new Progress([]);
    for (const p of d.providers) {
      const removed = p.createsServers ? await p.list() : [];
      await p.destroy((name, msg) => progress.line(name, msg));
      gone.push(...removed.map((s) => s.name));
      // A server created again under the same address is a new machine with new host keys: its old pin must not block it.
      for (const s of removed) forgetHostKey(d.state.knownHostsFile, s.ssh.host, s.ssh.port);
    }
    progress.note(`Deployment "${d.config.deployment}" destroyed; its identities are still in ${d.state.root}.`);
    return (code = 0);
  } finally {
    unlock();
    appendAudit(d.state, {
      command: "destroy",
      args: opts.argv ?? [],
      exitCode: code,
      servers: gone.map((server) => ({ server, result: "removed" })),
    });
  }
}

export const registerDestroy: Register = (program, globals) => {
  program
    .command("destroy")
    .description("remove the servers drasyl-deploy created (lab or cloud); identities stay in the local state")
    .addOption(configOption())
    .option("-y, --yes", "do not ask for the deployment name", false)
    .action(async (o: { config?: string; yes: boolean }) => {
      process.exitCode = await destroy({ ...o, stateDir: globals().stateDir, argv: process.argv.slice(2) });
    });
};
