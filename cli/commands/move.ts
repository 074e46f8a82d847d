import { existsSync, readFileSync, statSync } from "node:fs";
import type { Register } from "../options.ts";
import { waitForDnsNames } from "../../stacks/dns/propagation.ts";
import { forgetHostKey } from "../../stacks/install/host-keys.ts";
import { probeServer } from "../../stacks/install/health.ts";
import { installServer } from "../../stacks/install/installer.ts";
import { SERVICE } from "../../stacks/install/layout.ts";
import { SshConnection } from "../../stacks/install/ssh.ts";
import { dnsManagingKind, providerFor } from "../../stacks/kinds.ts";
import type { Server } from "../../stacks/provider.ts";
import { ttyPassphrasePrompt } from "../../stacks/pulumi/preflight.ts";
import {
  loadIdentity,
  pendingRestores,
  probeIdentity,
  replaceIdentity,
  setPendingRestores,
} from "../../stacks/state/identities.ts";
import { retireIdentity } from "../../stacks/state/retired.ts";
import { lockDeployment } from "../../stacks/state/lock.ts";
import {
  clearMoveJournal,
  type MoveJournal,
  readMoveJournal,
  writeMoveJournal,
} from "../../stacks/state/move-journal.ts";
import type { DeploymentState } from "../../stacks/state/state-dir.ts";
import { StateDir } from "../../stacks/state/state-dir.ts";
import { writeFileAtomic } from "../../sp-runtime/util/atomic-write.ts";
import { ConfigFileError, loadDeployConfig, parseConfig } from "../config/load.ts";
import { type DeployConfig, serverNames } from "../config/schema.ts";
import { type Deployment, deploymentOf, listServers } from "../deployment.ts";
import {
  clientName,
  findPlace,
  keptRecord,
  MoveError,
  type Place,
  placeExists,
  placeLabel,
  resolveDestination,
  serverAt,
  switchInYaml,
  withBoth,
  withPin,
} from "../move/relocate.ts";
import { Progress } from "../output/progress.ts";
import { superPeerUrl } from "../output/super-peers.ts";

export interface MoveOptions {
  config?: string;
  stateDir: string;
  to: string;
}

async function applyAll(d: Deployment, progress: Progress): Promise<Server[]> {
  return (await Promise.all(d.providers.map((p) => p.apply((name, msg) => progress.line(name, msg))))).flat();
}

/** The server `--to` names when the source server is already gone from the config (a finished move). */
function destinationName(deployment: string, to: string): string {
  const colon = to.indexOf(":");
  if (colon < 0) return `${deployment}-${to}`;
  return to.startsWith("existing:") ? to.slice(colon + 1) : `${deployment}-${to.slice(colon + 1)}`;
}

/**
 * Moves a super peer to another region or target without changing its key: the new server is
 * created (or, for an existing server, taken) and installed with the same identity while the old
 * one keeps serving, it must answer drasyl HELLOs over UDP and TCP with that key, and only then
 * does the config name the new place (keeping the super peer's DNS name) and the old server go.
 * Each step is idempotent and the config file is the switch, so a run interrupted anywhere is
 * finished by running the same command again (or undone by `up`, before the switch).
 */
export async function move(server: string, opts: MoveOptions): Promise<number> {
  const { config, source } = loadDeployConfig(opts.config);
  if (!existsSync(source))
    throw new MoveError("move rewrites the config file: pass --config FILE (the built-in sandbox has none)");
  const deployment = config.deployment;
  const progress = new Progress([server, destinationName(deployment, opts.to)]);
  const state = new StateDir(opts.stateDir).forDeployment(deployment);
  const unlock = lockDeployment(state);
  try {
    let journal = readMoveJournal(state);
    if (journal && (journal.server !== server || journal.to !== opts.to)) {
      throw new MoveError(
        `an earlier move of ${journal.server} to ${journal.to} is unfinished: run drasyl-deploy move ${journal.server} --to ${journal.to} first`,
      );
    }
    const names = serverNames(config);
    if (!names.includes(server)) {
      if (journal) return await finish(journal, source, state, progress);
      const there = destinationName(deployment, opts.to);
      if (names.includes(there)) {
        progress.note(`${server} is no longer in the config, ${there} is: nothing to do`);
        return 0;
      }
      throw new MoveError(`"${server}" is not a server of deployment "${deployment}" (${names.join(", ")})`);
    }

    const from = findPlace(config, server) as Place;
    const to = resolveDestination(config, from, opts.to);
    const newServer = serverAt(deployment, to);
    if (newServer === server) {
      progress.note(`${server} is already at ${placeLabel(to)}: nothing to do`);
      return 0;
    }
    if (to.type === "region" && placeExists(config, to))
      throw new MoveError(
        `the config lists both ${placeLabel(from)} and ${placeLabel(to)}: a move needs a region that has no server yet`,
      );
    // The switch is checked before anything is done: a config it would break (say, a DNS provider whose target it removes) stops here.
    const text = readFileSync(source, "utf8");
    const dnsRecord = keptRecord(config, from, to);
    const edited = switchInYaml(text, from, to, dnsRecord);
    try {
      parseConfig(edited, source);
    } catch (e) {
      if (!(e instanceof ConfigFileError)) throw e;
      throw new MoveError(
        `moving ${server} to ${placeLabel(to)} would leave a config that is not valid, so nothing was done: ${e.message}`,
      );
    }

    const identity = loadIdentity(state, server);
    if (!identity)
      throw new MoveError(
        `the local state holds no identity for ${server}: nothing to move (run drasyl-deploy up, or restore it from a backup)`,
      );
    const other = loadIdentity(state, newServer);
    if (other && other.publicKeyHex !== identity.publicKeyHex) {
      throw new MoveError(
        `the local state already holds another identity (${other.publicKeyHex}) for ${newServer}; a move onto it would replace that key. Back it up and move it away from the state dir first`,
      );
    }
    journal ??= {
      server,
      from: placeLabel(from),
      to: opts.to,
      newServer,
      publicKey: identity.publicKeyHex,
      startedAt: new Date().toISOString(),
    };
    if (journal.publicKey !== identity.publicKeyHex)
      throw new MoveError(
        `${server}'s identity changed since the move began (${journal.publicKey} then, ${identity.publicKeyHex} now); nothing done`,
      );
    const oldServer =
      from.type === "existing"
        ? (await deploymentOf(config, source, state).providers[from.target]?.list())?.find((s) => s.name === server)
        : undefined;
    journal = {
      ...journal,
      before: text,
      ...(dnsRecord ? { dnsRecord } : {}),
      ...(oldServer ? { oldServer } : {}),
    };
    writeMoveJournal(state, journal);
    replaceIdentity(state, newServer, identity);

    // The new server holds no DNS name yet: the name leads to the old one until the switch.
    const both = deploymentOf(withBoth(config, from, to), source, state, { unnamed: [newServer] });
    progress.line(newServer, `${to.type === "existing" ? "taking" : "creating"} the server; ${server} keeps serving`);
    const target = (await applyAll(both, progress)).find((s) => s.name === newServer);
    if (!target) throw new MoveError(`the provider did not create ${newServer}`);
    const prober = await probeIdentity(state);
    const r = await installServer(
      target,
      { identity, settings: both.settings },
      { knownHostsFile: state.knownHostsFile, prober, onProgress: (m) => progress.line(newServer, m) },
    );
    const probe = await probeServer(target, identity.publicKeyHex, both.settings, { identity: prober });
    if (!["installed", "updated", "unchanged"].includes(r.status) || !probe.ok || !probe.udp.ok || !probe.tcp.ok) {
      const why = r.error ?? probe.error ?? r.status;
      throw new MoveError(
        `${newServer} does not answer with ${identity.publicKeyHex} (${why}); ${server} is untouched. Run the move again to retry, or drasyl-deploy up to drop ${newServer}`,
      );
    }
    progress.line(
      newServer,
      `answers over UDP (${probe.udp.rttMs.toFixed(1)} ms) and TCP (${probe.tcp.rttMs.toFixed(1)} ms) with ${identity.publicKeyHex}`,
    );

    // The switch: from here on the config names the new place, and a re-run or `up` removes the old server.
    writeFileAtomic(source, edited, { mode: statSync(source).mode & 0o777 });
    progress.note(
      `${source}: ${placeLabel(from)} -> ${placeLabel(to)}${dnsRecord ? ` (keeping the DNS name ${dnsRecord})` : ""}`,
    );
    const moved = both.config;
    const [was, becomes] = [
      clientName(config, from),
      clientName(dnsRecord ? withPin(moved, to, dnsRecord) : moved, to),
    ];
    if (was !== undefined && was !== becomes)
      progress.note(
        `Clients know ${server} as ${was}; it is now ${becomes ?? "reached by its addresses"}: give them the new line from drasyl-deploy peers.`,
      );
    return await finish(journal, source, state, progress);
  } finally {
    unlock();
  }
}

/** The config as it was before the switch, with the new place added and holding the kept name; the old server unnamed. */
function switchingConfig(j: MoveJournal, source: string): { config: DeployConfig; from: Place; to: Place } {
  if (j.before === undefined)
    throw new MoveError(
      `the unfinished move of ${j.server} was begun by an earlier drasyl-deploy version: finish it with that version, or edit ${source} back and run the move again`,
    );
  const before = parseConfig(j.before, source);
  const from = findPlace(before, j.server);
  if (!from)
    throw new MoveError(`the move journal's config does not list ${j.server}; edit ${source} back and run again`);
  const to = resolveDestination(before, from, j.to);
  const both = withBoth(before, from, to);
  return { config: j.dnsRecord ? withPin(both, to, j.dnsRecord) : both, from, to };
}

/**
 * After the switch: the DNS name is made to lead to the new server (a managed zone's record is
 * updated while the old server still runs) and checked; then the old server goes (removed, or an
 * existing one's daemon stopped and disabled) and its identity entry is set aside (the key lives
 * on as the new server's).
 */
async function finish(j: MoveJournal, source: string, state: DeploymentState, progress: Progress): Promise<number> {
  const config = loadDeployConfig(source).config;
  if (!serverNames(config).includes(j.newServer))
    throw new MoveError(
      `${source} lists neither ${j.server} nor ${j.newServer}; finish or undo the move by editing it back, then run again`,
    );
  const switching = switchingConfig(j, source);
  const d = deploymentOf(config, source, state);
  const zoneKind = config.dns ? dnsManagingKind(config.dns.provider) : undefined;
  if (zoneKind && !j.recordSwitched) {
    progress.line(j.newServer, `pointing its DNS record at ${j.newServer}; ${j.server} keeps serving`);
    await applyAll(deploymentOf(switching.config, source, state, { unnamed: [j.server] }), progress);
    j.recordSwitched = true;
    writeMoveJournal(state, j);
  }
  const moved = (await listServers(d)).find((s) => s.name === j.newServer);
  if (!moved) throw new MoveError(`${j.newServer} is not there; run drasyl-deploy move ${j.server} --to ${j.to} again`);
  if (moved.dnsName) {
    if (zoneKind) await waitForDnsNames([moved], { onProgress: (n, m) => progress.line(n, m) });
    const probe = await probeServer(moved, j.publicKey, d.settings, { identity: await probeIdentity(state) });
    if (!probe.ok) {
      const addresses = [moved.ipv4, moved.ipv6].filter(Boolean).join(", ");
      throw new MoveError(
        `${moved.dnsName} does not lead to ${j.newServer} yet (${probe.error}); ${j.server} keeps serving. ` +
          (zoneKind
            ? "Run the move again to check once more"
            : `Point ${moved.dnsName} at ${addresses} (A/AAAA), then run the move again`),
      );
    }
    progress.line(j.newServer, `${moved.dnsName} leads to it and it answers there with ${j.publicKey}`);
  }

  const removed = await removeOld(j, switching, config, d, state, progress);
  if (removed) forgetHostKey(state.knownHostsFile, removed.ssh.host, removed.ssh.port);
  const pending = pendingRestores(state);
  if (pending[j.server] !== undefined) {
    delete pending[j.server];
    setPendingRestores(state, pending);
  }
  const retired = retireIdentity(state, j.server);
  if (retired) progress.line(j.server, `identity entry kept as ${retired}`);
  clearMoveJournal(state);
  progress.note(`${j.server} moved to ${j.newServer} (${j.to}); public key unchanged: ${j.publicKey}`);
  process.stdout.write(`${superPeerUrl({ server: moved, publicKeyHex: j.publicKey }, d.settings)}\n`);
  return 0;
}

/** Removes the old server (a region's) or stops and disables its daemon (an existing server's); returns it if it was there. */
async function removeOld(
  j: MoveJournal,
  switching: { config: DeployConfig; from: Place },
  config: DeployConfig,
  d: Deployment,
  state: DeploymentState,
  progress: Progress,
): Promise<Server | undefined> {
  const { from } = switching;
  if (from.type === "existing") {
    const old = j.oldServer;
    if (!old)
      throw new MoveError(
        `the move journal does not say how to reach ${j.server}; stop its ${SERVICE} service by hand`,
      );
    progress.line(j.server, `stopping and disabling ${SERVICE}`);
    const conn = await SshConnection.open(old, { knownHostsFile: state.knownHostsFile, timeoutMs: 20_000 });
    try {
      await conn.check(
        `systemctl disable --now ${SERVICE} 2>/dev/null || systemctl stop ${SERVICE} 2>/dev/null || true`,
        "stopping the old super peer",
      );
      const still = await conn.run(`systemctl is-active ${SERVICE}`);
      if (still.stdout.trim() === "active")
        throw new MoveError(`${SERVICE} on ${j.server} still runs after stopping it`);
    } finally {
      conn.close();
    }
    await applyAll(d, progress);
    return undefined;
  }
  const ctx = { state, ports: switching.config.ports, passphrasePrompt: ttyPassphrasePrompt };
  const oldProvider = providerFor(switching.config.targets[from.target] as DeployConfig["targets"][number], ctx);
  const old = (await oldProvider.list()).find((s) => s.name === j.server);
  progress.line(j.server, old ? "removing the old server" : "already removed");
  // The old server's target is still in the config (then applying it removes the server), or the switch took it out with its last server.
  const kept = config.targets.some((t) => t.kind === switching.config.targets[from.target]?.kind);
  await applyAll(d, progress);
  if (!kept && old) await oldProvider.destroy((name, msg) => progress.line(name, msg));
  return old;
}

export const registerMove: Register = (program, globals) => {
  program
    .command("move <server>")
    .description(
      "move a super peer to another region or target keeping its key (and DNS name): new server, same identity, probed, then the old one removed; re-run to finish an interrupted move",
    )
    .requiredOption(
      "--to <place>",
      "REGION of the same target (hcloud: location), KIND:REGION of another target (local:, hcloud:, aws:), or existing:NAME, a server the config lists that has no identity yet",
    )
    .option("-c, --config <file>", "deployment config (rewritten: the super peer's entry moves)")
    .action(async (server: string, o: { to: string; config?: string }) => {
      process.exitCode = await move(server, { ...o, stateDir: globals().stateDir });
    });
};
