import { spawn } from "node:child_process";
import type { Identity } from "../../sp-runtime/identity/identity.ts";
import { formatSuperPeerUrl } from "../../sp-runtime/node/super-peer-url.ts";
import { probeSuperPeer } from "../../sp-runtime/node/prober.ts";
import { hostPort } from "../../sp-runtime/wire/endpoints.ts";
import { DEFAULT_SETTINGS } from "../../stacks/install/settings.ts";
import { superPeerBundle } from "../../stacks/package-files.ts";
import { ensureIdentityFile, probeIdentity } from "../../stacks/state/identities.ts";
import { StateDir } from "../../stacks/state/state-dir.ts";
import { portArg, type Register } from "../options.ts";
import { formatProbe } from "../output/probe.ts";
import { formatSuperPeers } from "../output/super-peers.ts";

export interface SandboxOptions {
  stateDir: string;
  host: string;
  udpPort: number;
  tcpPort: number;
  /** Exit after the probe instead of serving until Ctrl-C. */
  once: boolean;
}

/** Identities are made on the operator's side and kept in the state dir, so the key outlives any server. */
export async function sandboxIdentity(
  state: StateDir,
  log: (line: string) => void,
): Promise<{ identity: Identity; file: string }> {
  const file = state.sandboxIdentityFile;
  const { identity } = await ensureIdentityFile(state, file, {
    onGenerate: () => log("Generating the sandbox super peer's identity (proof of work, a few seconds)..."),
  });
  return { identity, file };
}

/** A local super peer on loopback: the quickest way to see drasyl-sp answer real drasyl HELLOs. */
export async function sandbox(opts: SandboxOptions, out: (line: string) => void = console.log): Promise<number> {
  const state = new StateDir(opts.stateDir);
  const { identity, file } = await sandboxIdentity(state, out);
  const v6 = opts.host.includes(":");
  const udp = hostPort(opts.host, opts.udpPort);
  const tcp = hostPort(opts.host, opts.tcpPort);
  const child = spawn(process.execPath, [superPeerBundle()], {
    stdio: ["ignore", "pipe", "inherit"],
    env: {
      ...process.env,
      DRASYL_IDENTITY_FILE: file,
      DRASYL_IDENTITY_REQUIRED: "true",
      DRASYL_NETWORK_ID: String(DEFAULT_SETTINGS.networkId),
      DRASYL_UDP4_LISTEN: v6 ? "" : udp,
      DRASYL_UDP6_LISTEN: v6 ? udp : "",
      DRASYL_TCP4_LISTEN: v6 ? "" : tcp,
      DRASYL_TCP6_LISTEN: v6 ? tcp : "",
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

  const target = {
    host: opts.host,
    port: opts.udpPort,
    tcpPort: opts.tcpPort,
    publicKey: identity.publicKey,
    networkId: DEFAULT_SETTINGS.networkId,
  };
  const prober = await probeIdentity(state);
  const probeOpts = { networkId: target.networkId, arm: DEFAULT_SETTINGS.arm, timeoutMs: 3000 };
  const [udpProbe, tcpProbe] = await Promise.all([
    probeSuperPeer(prober, target, "udp", probeOpts),
    probeSuperPeer(prober, target, "tcp", probeOpts),
  ]);
  out(`Super peer ${identity.publicKeyHex}`);
  for (const [what, r] of [
    [`UDP ${udp}`, udpProbe],
    [`TCP ${tcp}`, tcpProbe],
  ] as const)
    out(`  ${what}: ${formatProbe(r)}${r.ok ? "" : ` (${r.error})`}`);
  out("");
  out("Point drasyl nodes on this machine at it with:");
  out(formatSuperPeers([formatSuperPeerUrl(target)], target.networkId, "env").trimEnd());

  const healthy = udpProbe.ok && tcpProbe.ok;
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

export const registerSandbox: Register = (program, globals) => {
  program
    .command("sandbox")
    .description(
      "start one local super peer without root, prove it answers over UDP and TCP, print its DRASYL_SUPER_PEERS line",
    )
    .option("--host <ip>", "address to listen on", "127.0.0.1")
    .option("--udp-port <port>", "UDP port", portArg, 22527)
    .option("--tcp-port <port>", "TCP fallback port", portArg, 8443)
    .option("--once", "exit after the probe instead of serving until Ctrl-C", false)
    .action(async (o: { host: string; udpPort: number; tcpPort: number; once: boolean }) => {
      process.exitCode = await sandbox({ stateDir: globals().stateDir, ...o });
    });
};
