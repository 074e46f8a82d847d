import { generateSecretKey } from "../../sp-runtime/crypto/keys.ts";
import { Identity } from "../../sp-runtime/identity/identity.ts";
import { installServer, type InstallResult } from "../../stacks/install/installer.ts";
import { requireMetricsToken } from "../../stacks/monitoring/exposure.ts";
import { applyInDnsOrder, withDnsNames } from "../../stacks/dns/fleet.ts";
import { waitForDnsNames } from "../../stacks/dns/propagation.ts";
import { dnsManagingKind } from "../../stacks/kinds.ts";
import { formatPlan, type IdentityPolicy } from "../../stacks/install/plan.ts";
import { adoptIdentity, ensureIdentity, loadIdentity, probeIdentity } from "../../stacks/state/identities.ts";
import { lockDeployment } from "../../stacks/state/lock.ts";
import { serverNames } from "../config/schema.ts";
import { type Deployment, listServers, openDeployment } from "../deployment.ts";
import { collect, configOption, type Register } from "../options.ts";
import { formatProbe } from "../output/probe.ts";
import { Progress, table } from "../output/progress.ts";
import { formatSuperPeers, superPeerUrl } from "../output/super-peers.ts";

export interface UpOptions {
  config?: string;
  stateDir: string;
  dryRun: boolean;
  adoptIdentity: string[];
  replaceIdentity: string[];
}

const HEALTHY = new Set(["installed", "updated", "unchanged"]);

function policyFor(server: string, opts: UpOptions): IdentityPolicy {
  if (opts.adoptIdentity.includes(server)) return "adopt";
  if (opts.replaceIdentity.includes(server)) return "replace";
  return "refuse";
}

async function dryRun(d: Deployment, opts: UpOptions, out: (s: string) => void): Promise<number> {
  for (const p of d.providers) for (const line of await p.preview()) out(`${line}\n`);
  const servers = await listServers(d);
  let failed = 0;
  for (const server of servers) {
    // Planning needs an identity; a throwaway one stands in for one that does not exist yet (the plan shows no secrets).
    const identity = loadIdentity(d.state, server.name) ?? new Identity(generateSecretKey(), 0);
    const r = await installServer(server, { identity, settings: d.settings, identityPolicy: policyFor(server.name, opts) }, { knownHostsFile: d.state.knownHostsFile, prober: identity, dryRun: true });
    if (r.plan) out(`\n${formatPlan(r.plan)}`);
    else {
      failed++;
      out(`\n${server.name}: cannot plan: ${r.error ?? "unknown error"}\n`);
    }
  }
  return failed > 0 ? 1 : 0;
}

/**
 * Provision (if the target creates servers), make sure every server has a backed-up identity, then
 * install on all servers in parallel. A failing server is reported and fails the command, but the
 * others are still installed and verified.
 */
export async function up(opts: UpOptions, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  const d = openDeployment(opts.config, opts.stateDir);
  requireMetricsToken(d.settings.prometheusListen, d.settings.prometheusToken);
  process.stderr.write(`Deployment "${d.config.deployment}" (${d.source})\n`);
  const unlock = lockDeployment(d.state);
  try {
    if (opts.dryRun) return await dryRun(d, opts, out);
    const progress = new Progress(serverNames(d.config));
    // Identities first (and while servers boot): the key is backed up before any server holds it.
    const identities = new Map<string, Identity>();
    const identitiesReady = (async () => {
      for (const name of serverNames(d.config)) {
        const { identity, created } = await ensureIdentity(d.state, name);
        identities.set(name, identity);
        progress.line(name, `${created ? "new identity" : "identity"} ${identity.publicKeyHex} (kept in the local state)`);
      }
      // The health probe's own identity, mined once per state dir.
      return probeIdentity(d.state);
    })();
    const [servers, prober] = await Promise.all([
      applyInDnsOrder(d.providers, d.config.dns ? dnsManagingKind(d.config.dns.provider) : undefined, (p) => p.apply((name, msg) => progress.line(name, msg))).then((s) =>
        withDnsNames(d.config.dns, d.config.deployment, s),
      ),
      identitiesReady,
    ]);
    for (const s of servers.filter((x) => !identities.has(x.name))) {
      identities.set(s.name, (await ensureIdentity(d.state, s.name)).identity);
    }
    // Records the stack has just written may take a moment to be visible.
    if (d.config.dns && dnsManagingKind(d.config.dns.provider)) await waitForDnsNames(servers, { onProgress: (n, m) => progress.line(n, m) });

    const results: InstallResult[] = await Promise.all(
      servers.map((s) =>
        installServer(
          s,
          { identity: identities.get(s.name) as Identity, settings: d.settings, identityPolicy: policyFor(s.name, opts) },
          { knownHostsFile: d.state.knownHostsFile, prober, onProgress: (m) => progress.line(s.name, m) },
        ),
      ),
    );

    for (const r of results) {
      if (r.adoptedIdentity) {
        const kept = adoptIdentity(d.state, r.server, r.adoptedIdentity);
        identities.set(r.server, r.adoptedIdentity);
        progress.line(r.server, `adopted the server's identity ${r.adoptedIdentity.publicKeyHex}${kept ? ` (previous local one kept as ${kept})` : ""}`);
      }
    }

    const rows = [["SERVER", "STATUS", "RELEASE", "UDP", "TCP"]];
    for (const r of results) rows.push([r.server, r.status, r.release?.id ?? "-", formatProbe(r.health?.udp), formatProbe(r.health?.tcp)]);
    out(`\n${table(rows)}`);
    for (const r of results.filter((x) => !HEALTHY.has(x.status))) {
      out(`\n${r.server}: ${r.status}: ${r.error ?? ""}\n`);
      if (r.journal?.length) out(`  last journal lines:\n${r.journal.map((l) => `    ${l}\n`).join("")}`);
    }

    const healthy = results.filter((r) => HEALTHY.has(r.status) && (r.health === undefined || r.health.ok));
    const urls = servers
      .filter((s) => healthy.some((r) => r.server === s.name))
      .map((s) => superPeerUrl({ server: s, publicKeyHex: (identities.get(s.name) as Identity).publicKeyHex }, d.settings));
    if (urls.length > 0) out(`\n${formatSuperPeers(urls, d.settings.networkId, "env")}`);
    return healthy.length === results.length ? 0 : 1;
  } finally {
    unlock();
  }
}

export const registerUp: Register = (program, globals) => {
  program
    .command("up")
    .description("create the servers if needed, install or update a super peer on each, verify it, print DRASYL_SUPER_PEERS")
    .addOption(configOption())
    .option("--dry-run", "show what would be created and the install plan per server; change nothing", false)
    .option("--adopt-identity <server>", "keep the identity a server already holds (copied into the local state)", collect, [])
    .option("--replace-identity <server>", "replace the identity a server holds with the local one (the old one is kept on the server)", collect, [])
    .action(async (o: { config?: string; dryRun: boolean; adoptIdentity: string[]; replaceIdentity: string[] }) => {
      process.exitCode = await up({ ...o, stateDir: globals().stateDir });
    });
};
