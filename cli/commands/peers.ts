import { Option } from "commander";
import type { Identity } from "../../sp-runtime/identity/identity.ts";
import { probeServer } from "../../stacks/install/health.ts";
import { loadIdentity, probeIdentity } from "../../stacks/state/identities.ts";
import { formatPeersDiff, readPeersHistory } from "../../stacks/state/peers-history.ts";
import { listServers, openDeployment } from "../deployment.ts";
import { configOption, type Register } from "../options.ts";
import { formatSuperPeers, PEER_FORMATS, type PeerFormat, superPeerUrl } from "../output/super-peers.ts";

export interface PeersOptions {
  config?: string;
  stateDir: string;
  all: boolean;
  format: PeerFormat;
  /** Instead of the value: how the last up that changed it changed it. */
  diff?: boolean;
}

/**
 * The DRASYL_SUPER_PEERS value for clients, built from the backed-up identities. Only super peers
 * that answer a real drasyl HELLO over UDP and TCP at every address clients may use are listed,
 * unless --all: handing clients a dead super peer costs them a timeout on every start.
 */
export async function peers(
  opts: PeersOptions,
  out: (s: string) => void = (s) => process.stdout.write(s),
): Promise<number> {
  const d = openDeployment(opts.config, opts.stateDir);
  if (opts.diff) {
    const { text, warnings } = formatPeersDiff(readPeersHistory(d.state));
    out(text);
    for (const w of warnings) process.stderr.write(`${w}\n`);
    return 0;
  }
  const servers = await listServers(d);
  // Mined (once per state dir) only when there is something to probe.
  let prober: Promise<Identity> | undefined;
  const checked = await Promise.all(
    servers.map(async (server) => {
      const identity = loadIdentity(d.state, server.name);
      if (!identity) return { server, left: "no identity in the local state (not deployed yet?)" };
      if (!opts.all) {
        const probe = await probeServer(server, identity.publicKeyHex, d.settings, {
          identity: await (prober ??= probeIdentity(d.state)),
        });
        if (!probe.ok) return { server, left: probe.error ?? "does not answer", hint: " (--all lists it anyway)" };
      }
      return { server, url: superPeerUrl({ server, publicKeyHex: identity.publicKeyHex }, d.settings) };
    }),
  );
  const urls: string[] = [];
  for (const c of checked) {
    if (c.url) urls.push(c.url);
    else process.stderr.write(`${c.server.name}: ${c.left}: left out${c.hint ?? ""}\n`);
  }
  if (urls.length === 0) {
    process.stderr.write(`No super peer of deployment "${d.config.deployment}" to list.\n`);
    return 1;
  }
  out(formatSuperPeers(urls, d.settings.networkId, opts.format));
  return urls.length === checked.length ? 0 : 1;
}

export const registerPeers: Register = (program, globals) => {
  program
    .command("peers")
    .description("print the DRASYL_SUPER_PEERS value for clients (only super peers that answer, unless --all)")
    .addOption(configOption())
    .option("--all", "include super peers that do not answer the probe", false)
    .addOption(
      new Option("--format <format>", "env (comma-separated), whitespace, lines, toml or json")
        .choices(PEER_FORMATS)
        .default("env"),
    )
    .option(
      "--diff",
      "how the value changed with the last up that changed it: added, removed, public key changed",
      false,
    )
    .action(async (o: { config?: string; all: boolean; format: PeerFormat; diff: boolean }) => {
      process.exitCode = await peers({ ...o, stateDir: globals().stateDir });
    });
};
