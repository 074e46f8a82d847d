import { join } from "node:path";
import { generateIdentity, type Identity } from "../../sp-runtime/identity/identity.ts";
import { loadIdentityFile, saveIdentityFile } from "../../sp-runtime/identity/identity-file.ts";
import { spawn } from "node:child_process";
import { superPeerBundle } from "../paths.ts";
import { probeSuperPeer, type ProbeResult } from "../../sp-runtime/node/probe.ts";
import { privateDir } from "../state/dirs.ts";

export interface SandboxOptions {
  stateDir: string;
  host: string;
  udpPort: number;
  tcpPort: number;
  /** Exit after the probe instead of serving until Ctrl-C. */
  once: boolean;
}

/** Identities are made on the operator's side and kept in the state dir, so the key outlives any server. */
export async function sandboxIdentity(stateDir: string, log: (line: string) => void): Promise<{ identity: Identity; file: string }> {
  const dir = privateDir(join(stateDir, "sandbox"));
  const file = join(dir, "drasyl-sp.identity");
  const existing = loadIdentityFile(file);
  if (existing) return { identity: existing, file };
  log("Generating the sandbox super peer's identity (proof of work, a few seconds)...");
  const identity = await generateIdentity();
  saveIdentityFile(file, identity);
  return { identity, file };
}

function describeProbe(r: ProbeResult): string {
  return r.ok ? `ok, ACK from the expected key in ${r.rttMs.toFixed(2)} ms` : `FAILED: ${r.error}`;
}

/** A local super peer on loopback: the quickest way to see drasyl-sp answer real drasyl HELLOs. */
export async function sandbox(opts: SandboxOptions, out: (line: string) => void = console.log): Promise<number> {
  const { identity, file } = await sandboxIdentity(opts.stateDir, out);
  const hostPort = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  const v6 = opts.host.includes(":");
  const child = spawn(process.execPath, [superPeerBundle()], {
    stdio: ["ignore", "pipe", "inherit"],
    env: {
      ...process.env,
      DRASYL_IDENTITY_FILE: file,
      DRASYL_IDENTITY_REQUIRED: "true",
      DRASYL_UDP4_LISTEN: v6 ? "" : `${hostPort}:${opts.udpPort}`,
      DRASYL_UDP6_LISTEN: v6 ? `${hostPort}:${opts.udpPort}` : "",
      DRASYL_TCP4_LISTEN: v6 ? "" : `${hostPort}:${opts.tcpPort}`,
      DRASYL_TCP6_LISTEN: v6 ? `${hostPort}:${opts.tcpPort}` : "",
      DRASYL_PEERS_PRINT_INTERVAL: "0",
      DRASYL_PROMETHEUS_LISTEN: "",
      RUST_LOG: process.env.RUST_LOG ?? "warn",
    },
  });
  const exited = new Promise<number>((resolve) => child.on("exit", (code) => resolve(code ?? 1)));
  const listening = await new Promise<boolean>((resolve) => {
    let text = "";
    child.stdout?.on("data", (d: Buffer) => {
      text += d.toString();
      if (text.includes("Super peer listening on:")) resolve(true);
    });
    void exited.then(() => resolve(false));
  });
  if (!listening) {
    out("The super peer did not start (see its messages above).");
    return 1;
  }

  const target = { host: opts.host, port: opts.udpPort, tcpPort: opts.tcpPort, publicKey: identity.publicKey };
  const udp = await probeSuperPeer(target, "udp");
  const tcp = await probeSuperPeer(target, "tcp");
  out(`Super peer ${identity.publicKeyHex}`);
  out(`  UDP ${hostPort}:${opts.udpPort}: ${describeProbe(udp)}`);
  out(`  TCP ${hostPort}:${opts.tcpPort}: ${describeProbe(tcp)}`);
  out("");
  out("Point drasyl nodes on this machine at it with:");
  out(`DRASYL_SUPER_PEERS="udp://${hostPort}:${opts.udpPort}?publicKey=${identity.publicKeyHex}&networkId=1&tcpPort=${opts.tcpPort}"`);

  const healthy = udp.ok && tcp.ok;
  if (opts.once || !healthy) {
    child.kill("SIGTERM");
    await exited;
    return healthy ? 0 : 1;
  }
  out("");
  out("Serving until Ctrl-C.");
  const stop = (): void => {
    child.kill("SIGTERM");
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  const code = await exited;
  return code === 0 ? 0 : 1;
}
