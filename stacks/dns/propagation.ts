import { checkDnsName } from "../install/health.ts";
import type { Server } from "../provider.ts";

export interface PropagationOptions {
  /** Default 120 s: Hetzner DNS and Route 53 publish a change within seconds to a minute. */
  timeoutMs?: number;
  intervalMs?: number;
  onProgress?: (server: string, message: string) => void;
  /** Default: the installer's check (the system resolver, or $DRASYL_DEPLOY_DNS_SERVER). */
  check?: (server: Server) => Promise<{ problem?: string }>;
}

/**
 * Waits until every server's DNS name leads to the server, after the stack has just written the
 * records: the installer refuses a server whose name does not (clients given it would not reach
 * the super peer), and a record created a moment ago may not be visible yet. Returns the names
 * still wrong when the time is up, with the reason; the installer then reports them.
 */
export async function waitForDnsNames(servers: Server[], opts: PropagationOptions = {}): Promise<Map<string, string>> {
  const check = opts.check ?? checkDnsName;
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  const pending = new Map<string, string>();
  await Promise.all(
    servers
      .filter((s) => s.dnsName)
      .map(async (s) => {
        let announced = false;
        for (;;) {
          const { problem } = await check(s);
          if (!problem) {
            pending.delete(s.name);
            if (announced) opts.onProgress?.(s.name, `${s.dnsName} now leads to the server`);
            return;
          }
          pending.set(s.name, problem);
          if (Date.now() >= deadline) return;
          if (!announced)
            opts.onProgress?.(s.name, `waiting for the DNS record of ${s.dnsName} to be visible: ${problem}`);
          announced = true;
          await new Promise((r) =>
            setTimeout(r, Math.min(opts.intervalMs ?? 3000, Math.max(0, deadline - Date.now()))),
          );
        }
      }),
  );
  return pending;
}
