import { sandbox } from "../commands/sandbox.ts";

/**
 * The Quick start on a machine that cannot run the lab (no root, no apt, no cgroups): rather than
 * stopping, it serves the one no-root super peer, and says in one line how to get the lab.
 */
export function quickStartSandbox(stateDir: string, reason: string): Promise<number> {
  process.stderr.write(
    `The three-server sandbox cannot run here (${reason}); starting one super peer on 127.0.0.1 instead. For the three lab servers, run "sudo npm start" on Debian or Ubuntu.\n`,
  );
  return sandbox({ stateDir, host: "127.0.0.1", udpPort: 22527, tcpPort: 8443, once: false });
}
