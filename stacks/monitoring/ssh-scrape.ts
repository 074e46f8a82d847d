import { request } from "node:http";
import { SshConnection } from "../install/ssh.ts";
import type { Server } from "../provider.ts";
import { metricsPort } from "./exposure.ts";
import { keyFigures, type KeyFigures } from "./key-figures.ts";
import { parseListen } from "../../sp-runtime/daemon/config.ts";

/** Where the daemon's endpoint is reached from the server itself: a wildcard listen is reached on loopback. */
export function localMetricsAddress(listen: string): { host: string; port: number } | undefined {
  const addr = parseListen(listen, "any", "superPeer.prometheusListen");
  if (addr === undefined) return undefined;
  const host = addr.host === "0.0.0.0" ? "127.0.0.1" : addr.host === "::" ? "::1" : addr.host;
  return { host, port: metricsPort(listen) as number };
}

/**
 * GET /metrics on the server's side of an SSH connection (direct-tcpip), so it works whether the
 * endpoint is local only or exposed to a Prometheus elsewhere: the operator always has SSH, and
 * the cloud firewall may let only the Prometheus server reach the metrics port.
 */
export async function scrapeOverSsh(
  conn: SshConnection,
  listen: string,
  token: string,
  timeoutMs = 10_000,
): Promise<string> {
  const addr = localMetricsAddress(listen);
  if (!addr) throw new Error('the metrics endpoint is disabled (superPeer.prometheusListen: "")');
  const stream = await conn.forwardOut(addr.host, addr.port);
  return new Promise<string>((resolve, reject) => {
    const req = request(
      {
        createConnection: () => stream,
        host: addr.host,
        port: addr.port,
        path: "/metrics",
        headers: token ? { Authorization: `Bearer ${token}` } : {},
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          if (res.statusCode === 200) resolve(Buffer.concat(chunks).toString());
          else if (res.statusCode === 401)
            reject(
              new Error(
                "the metrics endpoint refused the bearer token (401): set the one the super peers were installed with",
              ),
            );
          else reject(new Error(`the metrics endpoint answered HTTP ${res.statusCode ?? "?"}`));
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer from the metrics endpoint within ${timeoutMs / 1000} s`)));
    req.on("error", reject);
    req.end();
  });
}

/** One super peer's key figures through its own SSH connection; a failure is the row's error, not the command's. */
export async function serverKeyFigures(
  server: Server,
  opts: { knownHostsFile: string; listen: string; token: string },
): Promise<{ figures?: KeyFigures; error?: string }> {
  let conn: SshConnection | undefined;
  try {
    conn = await SshConnection.open(server, { knownHostsFile: opts.knownHostsFile });
    return { figures: keyFigures(await scrapeOverSsh(conn, opts.listen, opts.token), Date.now() / 1000) };
  } catch (e) {
    return { error: `metrics: ${(e as Error).message}` };
  } finally {
    conn?.close();
  }
}
