import { existsSync, readFileSync, statSync } from "node:fs";
import type { Register } from "../options.ts";
import { forgetHostKey } from "../../stacks/install/host-keys.ts";
import { probeServer } from "../../stacks/install/health.ts";
import { installServer } from "../../stacks/install/installer.ts";
import { providerFor } from "../../stacks/kinds.ts";
import { ttyPassphrasePrompt } from "../../stacks/pulumi/preflight.ts";
import type { Server } from "../../stacks/provider.ts";
import {
  loadIdentity,
  pendingRestores,
  probeIdentity,
  replaceIdentity,
  retireIdentity,
  setPendingRestores,
} from "../../stacks/state/identities.ts";
import { lockDeployment } from "../../stacks/state/lock.ts";
import {
  clearMoveJournal,
  type MoveJournal,
  readMoveJournal,
  writeMoveJournal,
} from "../../stacks/state/move-journal.ts";
import { type DeploymentState, StateDir } from "../../stacks/state/state-dir.ts";
import { writeFileAtomic } from "../../sp-runtime/util/atomic-write.ts";
import { loadDeployConfig, parseConfig } from "../config/load.ts";
import { type DeployConfig, serverRegions } from "../config/schema.ts";
import { type Deployment, settingsFor } from "../deployment.ts";
import { findSite, MoveError, replaceRegionInYaml, serverName, withBoth } from "../move/relocate.ts";
import { Progress } from "../output/progress.ts";
import { superPeerUrl } from "../output/super-peers.ts";

export interface MoveOptions {
  config?: string;
  stateDir: string;
  to: string;
}

function deploymentFor(config: DeployConfig, source: string, state: DeploymentState): Deployment {
  const ctx = { state, ports: config.ports, passphrasePrompt: ttyPassphrasePrompt };
  return {
    config,
    source,
    state,
    providers: config.targets.map((t) => providerFor(t, ctx)),
    settings: settingsFor(config),
  };
}

async function applyAll(d: Deployment, progress: Progress): Promise<Server[]> {
  return (await Promise.all(d.providers.map((p) => p.apply((name, msg) => progress.line(name, msg))))).flat();
}

/**
 * Moves a super peer to another region without changing its key: the new server is created and
 * installed with the same identity while the old one keeps serving, it must answer drasyl HELLOs
 * over UDP and TCP with that key, and only then does the config name the new region and the old
 * server go. Each step is idempotent and the config file is the switch, so a run interrupted
 * anywhere is finished by running the same command again (or undone by `up`, before the switch).
 */
export async function move(server: string, opts: MoveOptions): Promise<number> {
  const { config, source } = loadDeployConfig(opts.config);
  if (!existsSync(source))
    throw new MoveError("move rewrites the config file: pass --config FILE (the built-in sandbox has none)");
  const deployment = config.deployment;
  const progress = new Progress([server, serverName(deployment, opts.to)]);
  const state = new StateDir(opts.stateDir).forDeployment(deployment);
  const unlock = lockDeployment(state);
  try {
    let journal = readMoveJournal(state);
    if (journal && (journal.server !== server || journal.to !== opts.to)) {
      throw new MoveError(
        `an earlier move of ${journal.server} to ${journal.to} is unfinished: run drasyl-deploy move ${journal.server} --to ${journal.to} first`,
      );
    }
    const from = journal?.from ?? serverRegions(config).find((s) => s.name === server)?.region;
    if (from === undefined)
      throw new MoveError(
        `"${server}" is not a server of deployment "${deployment}" (${serverRegions(config)
          .map((s) => s.name)
          .join(", ")})`,
      );
    const newServer = serverName(deployment, opts.to);
    const oldSite = findSite(config, from);
    const newSite = findSite(config, opts.to);
    if (oldSite && newSite)
      throw new MoveError(`the config lists both ${from} and ${opts.to}: a move needs a region that has no server yet`);
    if (!oldSite && !newSite)
      throw new MoveError(
        `${server} is not on a target that creates servers per region (local, hcloud, aws): move an existing server by adding the new one to the config, then drasyl-deploy identity export/import`,
      );
    if (!oldSite && !journal) {
      progress.note(`${server} is already in ${opts.to} as ${newServer}: nothing to do`);
      return 0;
    }

    if (oldSite) {
      const identity = loadIdentity(state, server);
      if (!identity)
        throw new MoveError(
          `the local state holds no identity for ${server}: nothing to move (run drasyl-deploy up, or restore it from a backup)`,
        );
      const other = loadIdentity(state, newServer);
      if (other && other.publicKeyHex !== identity.publicKeyHex) {
        throw new MoveError(
          `the local state already holds another identity (${other.publicKeyHex}) for ${newServer}; move it away from the state dir first`,
        );
      }
      journal ??= {
        server,
        from,
        to: opts.to,
        newServer,
        publicKey: identity.publicKeyHex,
        startedAt: new Date().toISOString(),
      };
      if (journal.publicKey !== identity.publicKeyHex)
        throw new MoveError(
          `${server}'s identity changed since the move began (${journal.publicKey} then, ${identity.publicKeyHex} now); nothing done`,
        );
      writeMoveJournal(state, journal);
      replaceIdentity(state, newServer, identity);

      const both = deploymentFor(withBoth(config, oldSite, from, opts.to), source, state);
      progress.line(newServer, `creating the server in ${opts.to}; ${server} keeps serving`);
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

      // The switch: from here on the config names the new region, and a re-run or `up` removes the old server.
      const text = readFileSync(source, "utf8");
      const edited = replaceRegionInYaml(text, oldSite, from, opts.to);
      parseConfig(edited, source);
      writeFileAtomic(source, edited, { mode: statSync(source).mode & 0o777 });
      progress.note(`${source}: ${from} -> ${opts.to}`);
    }

    await finish(journal as MoveJournal, source, state, progress);
    return 0;
  } finally {
    unlock();
  }
}

/** After the switch: remove the old server, set its identity entry aside (the key lives on as the new server's). */
async function finish(j: MoveJournal, source: string, state: DeploymentState, progress: Progress): Promise<void> {
  const config = loadDeployConfig(source).config;
  const site = findSite(config, j.to);
  if (!site)
    throw new MoveError(
      `${source} no longer lists ${j.to}; finish or undo the move by editing it back, then run again`,
    );
  const both = deploymentFor(withBoth(config, site, j.to, j.from), source, state);
  const old = (await Promise.all(both.providers.map((p) => p.list()))).flat().find((s) => s.name === j.server);
  progress.line(j.server, old ? "removing the old server" : "already removed");
  const d = deploymentFor(config, source, state);
  const servers = await applyAll(d, progress);
  if (old) forgetHostKey(state.knownHostsFile, old.ssh.host, old.ssh.port);
  const pending = pendingRestores(state);
  if (pending[j.server] !== undefined) {
    delete pending[j.server];
    setPendingRestores(state, pending);
  }
  const retired = retireIdentity(state, j.server);
  if (retired) progress.line(j.server, `identity entry kept as ${retired}`);
  clearMoveJournal(state);
  const moved = servers.find((s) => s.name === j.newServer);
  progress.note(`${j.server} moved to ${j.newServer} (${j.to}); public key unchanged: ${j.publicKey}`);
  if (moved) process.stdout.write(`${superPeerUrl({ server: moved, publicKeyHex: j.publicKey }, d.settings)}\n`);
}

export const registerMove: Register = (program, globals) => {
  program
    .command("move <server>")
    .description(
      "move a super peer to another region keeping its key: new server, same identity, probed, then the old one removed; re-run to finish an interrupted move",
    )
    .requiredOption("--to <region>", "the region (hcloud: location) of the new server")
    .option("-c, --config <file>", "deployment config (rewritten: the region is replaced)")
    .action(async (server: string, o: { to: string; config?: string }) => {
      process.exitCode = await move(server, { ...o, stateDir: globals().stateDir });
    });
};
