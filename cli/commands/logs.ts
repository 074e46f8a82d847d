import { InvalidArgumentError } from "commander";
import { SERVICE } from "../../stacks/install/layout.ts";
import { shq } from "../../stacks/install/shell.ts";
import { SshConnection } from "../../stacks/install/ssh.ts";
import type { Server } from "../../stacks/provider.ts";
import { listServers, openDeployment } from "../deployment.ts";
import { configOption, type Register } from "../options.ts";

export interface LogsOptions {
  config?: string;
  stateDir: string;
  server?: string;
  follow: boolean;
  /** Anything journalctl --since takes: "1 hour ago", "2026-12-04 10:00", "today". */
  since?: string;
  lines?: number;
}

/** journalctl's arguments; --since is passed through as one quoted word, so it cannot smuggle in shell. */
export function journalCommand(opts: Pick<LogsOptions, "follow" | "since" | "lines">): string {
  const args = [`-u ${SERVICE}`, "--no-pager", "-o short-iso"];
  if (opts.since !== undefined) args.push(`--since ${shq(opts.since)}`);
  else args.push(`-n ${opts.lines ?? 50}`);
  if (opts.follow) args.push("-f");
  return `journalctl ${args.join(" ")}`;
}

/** Splits a stream into whole lines, each prefixed with the server's name. */
function prefixer(prefix: string, write: (s: string) => void): { push: (text: string) => void; flush: () => void } {
  let rest = "";
  return {
    push(text) {
      const parts = (rest + text).split("\n");
      rest = parts.pop() ?? "";
      for (const l of parts) write(`${prefix}${l}\n`);
    },
    flush() {
      if (rest !== "") write(`${prefix}${rest}\n`);
      rest = "";
    },
  };
}

/** `drasyl-deploy logs [SERVER] [-f] [--since ...]`: the super peers' journals over SSH, one prefix per server. */
export async function logs(
  opts: LogsOptions,
  out: (s: string) => void = (s) => process.stdout.write(s),
): Promise<number> {
  const d = openDeployment(opts.config, opts.stateDir);
  const all = await listServers(d);
  const servers: Server[] = opts.server === undefined ? all : all.filter((s) => s.name === opts.server);
  if (servers.length === 0) {
    process.stderr.write(
      opts.server === undefined
        ? `Deployment "${d.config.deployment}" has no servers yet: run drasyl-deploy up\n`
        : `No server "${opts.server}" in deployment "${d.config.deployment}"; its servers: ${all.map((s) => s.name).join(", ") || "(none)"}\n`,
    );
    return 1;
  }
  // `logs | head` closes the pipe early: that ends the command, it is not an error.
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(0);
    throw e;
  });
  const width = Math.max(...servers.map((s) => s.name.length));
  const command = journalCommand(opts);
  const results = await Promise.all(
    servers.map(async (s) => {
      let conn: SshConnection | undefined;
      const lines = prefixer(`${s.name.padEnd(width)} | `, out);
      const errors = prefixer(`${s.name.padEnd(width)} | `, (l) => process.stderr.write(l));
      try {
        conn = await SshConnection.open(s, { knownHostsFile: d.state.knownHostsFile });
        const { done, stop } = await conn.stream(command, (text, from) =>
          (from === "stdout" ? lines : errors).push(text),
        );
        const onSignal = (): void => stop();
        process.once("SIGINT", onSignal).once("SIGTERM", onSignal);
        const code = await done;
        process.off("SIGINT", onSignal).off("SIGTERM", onSignal);
        lines.flush();
        errors.flush();
        return code === 0 || opts.follow;
      } catch (e) {
        process.stderr.write(`${s.name}: ${(e as Error).message}\n`);
        return false;
      } finally {
        conn?.close();
      }
    }),
  );
  return results.every(Boolean) ? 0 : 1;
}

function positive(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1) throw new InvalidArgumentError("must be a whole number >= 1");
  return n;
}

export const registerLogs: Register = (program, globals) => {
  program
    .command("logs [server]")
    .description(
      "the super peers' journal (journalctl -u drasyl-sp) over SSH, from one server or all, one prefix per server",
    )
    .addOption(configOption())
    .option("-f, --follow", "keep printing new lines until Ctrl-C", false)
    .option("--since <time>", 'from this time on, as journalctl takes it ("1 hour ago", "2026-12-04 10:00", "today")')
    .option("-n, --lines <n>", "how many of the last lines without --since (default 50)", positive)
    .action(
      async (server: string | undefined, o: { config?: string; follow: boolean; since?: string; lines?: number }) => {
        process.exitCode = await logs({
          ...o,
          ...(server !== undefined ? { server } : {}),
          stateDir: globals().stateDir,
        });
      },
    );
};
