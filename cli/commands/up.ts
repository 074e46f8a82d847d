import { createInterface } from "node:readline/promises";
import { generateSecretKey } from "../../sp-runtime/crypto/keys.ts";
import { Identity } from "../../sp-runtime/identity/identity.ts";
import { installServer, type InstallResult } from "../../stacks/install/installer.ts";
import { requireMetricsToken } from "../../stacks/monitoring/exposure.ts";
import { applyInDnsOrder, withDnsNames } from "../../stacks/dns/fleet.ts";
import { waitForDnsNames } from "../../stacks/dns/propagation.ts";
import { dnsManagingKind } from "../../stacks/kinds.ts";
import { formatPlan, type IdentityPolicy } from "../../stacks/install/plan.ts";
import { LabError } from "../../stacks/local/run.ts";
import { appendAudit } from "../../stacks/state/audit.ts";
import { fleetBundle } from "../../stacks/state/fleet-release.ts";
import {
  ensureIdentity,
  loadIdentity,
  pendingRestores,
  probeIdentity,
  replaceIdentity,
  setPendingRestores,
} from "../../stacks/state/identities.ts";
import { lockDeployment } from "../../stacks/state/lock.ts";
import { readMoveJournal, serverTakenByMove } from "../../stacks/state/move-journal.ts";
import { recordPeers } from "../../stacks/state/peers-history.ts";
import { migrateRetiredMarks, retireIdentity, reviveIdentity, serversToRetire } from "../../stacks/state/retired.ts";
import { SANDBOX_CONFIG } from "../config/load.ts";
import { dnsRecordPins, serverNames } from "../config/schema.ts";
import { type Deployment, listServers, openDeployment } from "../deployment.ts";
import { backUpNewIdentities } from "../identity/up-backup.ts";
import { collect, configOption, type Register } from "../options.ts";
import { formatProbe } from "../output/probe.ts";
import { Progress, table } from "../output/progress.ts";
import { formatSuperPeers, superPeerUrl } from "../output/super-peers.ts";
import { quickStartSandbox } from "../preflight/first-run.ts";
import { prepareLab } from "../preflight/lab-setup.ts";

export interface UpOptions {
  config?: string;
  stateDir: string;
  dryRun: boolean;
  adoptIdentity: string[];
  replaceIdentity: string[];
  /** Remove servers that left the config without asking. */
  yes?: boolean;
  /** The command line, for the audit log. */
  argv?: string[];
}

const HEALTHY = new Set(["installed", "updated", "unchanged"]);

/** `restored` holds the keys `identity restore`/`import` put into the local state: confirmed by the operator already. */
function policyFor(
  server: string,
  opts: UpOptions,
  restored: Record<string, string> = {},
  identity?: Identity,
): IdentityPolicy {
  if (opts.adoptIdentity.includes(server)) return "adopt";
  if (opts.replaceIdentity.includes(server)) return "replace";
  if (identity && restored[server] === identity.publicKeyHex) return "replace";
  return "refuse";
}

async function confirmRemoval(names: string[]): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(
      `${names.join(", ")} ${names.length === 1 ? "is" : "are"} no longer in the config: remove ${names.length === 1 ? "it" : "them"} (identities stay in the local state, marked retired)? [y/N] `,
    );
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

async function dryRun(d: Deployment, opts: UpOptions, out: (s: string) => void): Promise<number> {
  for (const p of d.providers) for (const line of await p.preview()) out(`${line}\n`);
  for (const n of serversToRetire(d.state, serverNames(d.config)))
    out(`retire ${n} (no longer in the config; its identity stays in the local state)\n`);
  const servers = await listServers(d);
  let failed = 0;
  for (const server of servers) {
    // Planning needs an identity; a throwaway one stands in for one that does not exist yet (the plan shows no secrets).
    const identity = loadIdentity(d.state, server.name) ?? new Identity(generateSecretKey(), 0);
    const r = await installServer(
      server,
      {
        identity,
        settings: d.settings,
        bundlePath: fleetBundle(d.state),
        identityPolicy: policyFor(server.name, opts, pendingRestores(d.state), identity),
      },
      { knownHostsFile: d.state.knownHostsFile, prober: identity, dryRun: true },
    );
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
  // Everything that can stop the lab runs before an identity is made or anything is written.
  if (!opts.dryRun && d.config.targets.some((t) => t.kind === "local")) {
    const lab = await prepareLab((line) => process.stderr.write(`${line}\n`));
    if (!lab.ok) {
      if (d.config === SANDBOX_CONFIG) return quickStartSandbox(opts.stateDir, lab.reason);
      throw new LabError(`cannot run the local lab: ${lab.reason}`);
    }
  }
  const unlock = lockDeployment(d.state);
  const audited: InstallResult[] = [];
  let code = 1;
  try {
    if (opts.dryRun) return (code = await dryRun(d, opts, out));
    migrateRetiredMarks(d.state, serverNames(d.config));
    const retiring = serversToRetire(d.state, serverNames(d.config));
    if (retiring.length > 0 && !opts.yes && !(await confirmRemoval(retiring))) {
      process.stderr.write(
        `Not confirmed: nothing changed. ${retiring.join(", ")} left the config; put ${retiring.length === 1 ? "it" : "them"} back, or run up --yes to remove ${retiring.length === 1 ? "it" : "them"}.\n`,
      );
      return 1;
    }
    const bundlePath = fleetBundle(d.state);
    const progress = new Progress(serverNames(d.config));
    const moving = readMoveJournal(d.state);
    const taken = serverTakenByMove(moving, serverNames(d.config));
    if (moving)
      progress.note(
        `A move of ${moving.server} to ${moving.to} is unfinished: drasyl-deploy move ${moving.server} --to ${moving.to} finishes it.${taken ? ` ${taken} is left alone until then.` : ""}`,
      );
    // Identities first (and while servers boot): the key is backed up before any server holds it.
    const identities = new Map<string, Identity>();
    const identitiesReady = (async () => {
      for (const name of serverNames(d.config).filter((n) => n !== taken)) {
        const revived = reviveIdentity(d.state, name);
        if (revived) progress.line(name, `back in the config: its retired identity ${revived} is its identity again`);
        const { identity, created } = await ensureIdentity(d.state, name);
        identities.set(name, identity);
        progress.line(
          name,
          `${created ? "new identity" : "identity"} ${identity.publicKeyHex} (kept in the local state)`,
        );
      }
      // The health probe's own identity, mined once per state dir.
      return probeIdentity(d.state);
    })();
    const [servers, prober] = await Promise.all([
      applyInDnsOrder(d.providers, d.config.dns ? dnsManagingKind(d.config.dns.provider) : undefined, (p) =>
        p.apply((name, msg) => progress.line(name, msg)),
      )
        .then((s) => s.filter((x) => x.name !== taken))
        .then((s) => withDnsNames(d.config.dns, d.config.deployment, s, dnsRecordPins(d.config))),
      identitiesReady,
    ]);
    for (const n of retiring) {
      const kept = retireIdentity(d.state, n);
      progress.line(n, `removed; its identity stays in the local state, retired${kept ? ` (${kept})` : ""}`);
    }
    for (const s of servers.filter((x) => !identities.has(x.name))) {
      identities.set(s.name, (await ensureIdentity(d.state, s.name)).identity);
    }
    // Records the stack has just written may take a moment to be visible.
    if (d.config.dns && dnsManagingKind(d.config.dns.provider))
      await waitForDnsNames(servers, { onProgress: (n, m) => progress.line(n, m) });

    await backUpNewIdentities(d, (line) => progress.note(line));
    const restored = pendingRestores(d.state);
    const results: InstallResult[] = await Promise.all(
      servers.map((s) =>
        installServer(
          s,
          {
            identity: identities.get(s.name) as Identity,
            settings: d.settings,
            bundlePath,
            identityPolicy: policyFor(s.name, opts, restored, identities.get(s.name)),
          },
          { knownHostsFile: d.state.knownHostsFile, prober, onProgress: (m) => progress.line(s.name, m) },
        ),
      ),
    );
    audited.push(...results);

    for (const r of results) {
      if (r.adoptedIdentity) {
        const kept = replaceIdentity(d.state, r.server, r.adoptedIdentity);
        identities.set(r.server, r.adoptedIdentity);
        progress.line(
          r.server,
          `adopted the server's identity ${r.adoptedIdentity.publicKeyHex}${kept ? ` (previous local one kept as ${kept})` : ""}`,
        );
      }
    }

    const installed = results
      .filter((r) => HEALTHY.has(r.status) && restored[r.server] !== undefined)
      .map((r) => r.server);
    if (installed.length > 0) {
      for (const name of installed) delete restored[name];
      setPendingRestores(d.state, restored);
    }

    const rows = [["SERVER", "STATUS", "RELEASE", "UDP", "TCP"]];
    for (const r of results)
      rows.push([r.server, r.status, r.release?.id ?? "-", formatProbe(r.health?.udp), formatProbe(r.health?.tcp)]);
    out(`\n${table(rows)}`);
    for (const r of results.filter((x) => !HEALTHY.has(x.status))) {
      out(`\n${r.server}: ${r.status}: ${r.error ?? ""}\n`);
      if (r.journal?.length) out(`  last journal lines:\n${r.journal.map((l) => `    ${l}\n`).join("")}`);
    }

    const healthy = results.filter((r) => HEALTHY.has(r.status) && (r.health === undefined || r.health.ok));
    const entries = servers
      .filter((s) => healthy.some((r) => r.server === s.name))
      .map((s) => {
        const publicKey = (identities.get(s.name) as Identity).publicKeyHex;
        return { server: s.name, publicKey, url: superPeerUrl({ server: s, publicKeyHex: publicKey }, d.settings) };
      });
    if (entries.length > 0)
      out(
        `\n${formatSuperPeers(
          entries.map((e) => e.url),
          d.settings.networkId,
          "env",
        )}`,
      );
    code = healthy.length === results.length ? 0 : 1;
    // Only a complete up defines what clients should use; peers --diff compares against it.
    if (code === 0) recordPeers(d.state, entries);
    return code;
  } finally {
    unlock();
    if (!opts.dryRun) {
      appendAudit(d.state, {
        command: "up",
        args: opts.argv ?? [],
        exitCode: code,
        servers: audited.map((r) => {
          const before = r.plan?.previousRelease ?? (r.plan && !r.plan.fresh ? r.plan.release : undefined);
          const after = r.rolledBackTo && r.rolledBackTo !== "previous configuration" ? r.rolledBackTo : r.release?.id;
          return {
            server: r.server,
            result: r.status,
            ...(before ? { releaseBefore: before } : {}),
            ...(after ? { releaseAfter: after } : {}),
            ...(r.error ? { error: r.error } : {}),
          };
        }),
      });
    }
  }
}

export const registerUp: Register = (program, globals) => {
  program
    .command("up")
    .description(
      "create the servers if needed, install or update a super peer on each, verify it, print DRASYL_SUPER_PEERS",
    )
    .addOption(configOption())
    .option("--dry-run", "show what would be created and the install plan per server; change nothing", false)
    .option(
      "--adopt-identity <server>",
      "keep the identity a server already holds (copied into the local state)",
      collect,
      [],
    )
    .option(
      "--replace-identity <server>",
      "replace the identity a server holds with the local one (the old one is kept on the server)",
      collect,
      [],
    )
    .option("-y, --yes", "remove servers that left the config without asking", false)
    .action(
      async (o: {
        config?: string;
        dryRun: boolean;
        adoptIdentity: string[];
        replaceIdentity: string[];
        yes: boolean;
      }) => {
        process.exitCode = await up({ ...o, stateDir: globals().stateDir, argv: process.argv.slice(2) });
      },
    );
};
