import { anyHostKey, sshLogin, sshRunOnce } from "../install/ssh.ts";
import type { Server } from "../provider.ts";
import { CloudError } from "./errors.ts";

/** Blocks until every cloud-init stage has run; exit 0 done, 1 error, 2 degraded; 127 without cloud-init. */
const CLOUD_INIT_DONE =
  "command -v cloud-init >/dev/null 2>&1 || exit 127; timeout 900 cloud-init status --wait >/dev/null 2>&1";

/**
 * Waits until the login user can log in with the deployment key and cloud-init has finished: the
 * server booted, sshd runs, cloud-init created the user (its key is the last thing it writes for
 * it) and no later stage is going to restart sshd under the installer (changing ssh_pwauth does).
 */
export async function waitForSshLogin(
  server: Server,
  opts: { timeoutMs?: number; intervalMs?: number; onProgress?: (message: string) => void } = {},
): Promise<number> {
  const timeoutMs = opts.timeoutMs ?? 300_000;
  const started = Date.now();
  let last: string;
  let reported = false;
  for (;;) {
    try {
      // Readiness only: nothing is sent but the key's signature for this session. The installer
      // pins the host key on its own first connection.
      const { code } = await sshRunOnce(server, anyHostKey, CLOUD_INIT_DONE, {
        connectTimeoutMs: Math.min(15_000, timeoutMs),
        timeoutMs: 960_000,
      });
      if (code === 1 || code === 2)
        opts.onProgress?.(
          `cloud-init reported ${code === 1 ? "errors" : "recoverable errors"} (see /var/log/cloud-init.log on the server); the login works, going on`,
        );
      // sshd may have been restarted by cloud-init while we waited: one more login proves it is back.
      await sshLogin(server, anyHostKey, Math.min(15_000, timeoutMs));
      return Date.now() - started;
    } catch (e) {
      last = (e as Error).message;
    }
    if (!reported && Date.now() - started > 5_000) {
      opts.onProgress?.(`waiting for SSH login as ${server.ssh.user}@${server.ssh.host} (booting, cloud-init)`);
      reported = true;
    }
    if (Date.now() - started > timeoutMs) {
      throw new CloudError(
        "engine",
        `${server.name}: no SSH login as ${server.ssh.user}@${server.ssh.host} within ${Math.round(timeoutMs / 1000)} s (last error: ${last})`,
      );
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 3000));
  }
}
