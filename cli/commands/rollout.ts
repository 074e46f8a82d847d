import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { InvalidArgumentError } from "commander";
import type { Identity } from "../../sp-runtime/identity/identity.ts";
import { formatRolloutPlan, planRollout, type RolloutPlan, type SurveyedServer } from "../../stacks/rollout/plan.ts";
import { type RolloutEvent, runRollout, type ServerOutcome } from "../../stacks/rollout/runner.ts";
import { surveyServer } from "../../stacks/rollout/survey.ts";
import type { Server } from "../../stacks/provider.ts";
import { serverNames } from "../config/schema.ts";
import { type Deployment, listServers, openDeployment } from "../deployment.ts";
import { superPeerBundle } from "../../stacks/package-files.ts";
import { appendAudit } from "../../stacks/state/audit.ts";
import { keepBundle, recordFleetRelease } from "../../stacks/state/fleet-release.ts";
import { ensureIdentityFile, loadIdentity, probeIdentity } from "../../stacks/state/identities.ts";
import { readJson, writeJson } from "../../stacks/state/json-file.ts";
import { lockDeployment } from "../../stacks/state/lock.ts";
import { configOption, type Register } from "../options.ts";
import { Progress, table } from "../output/progress.ts";

export interface RolloutOptions {
  config?: string;
  stateDir: string;
  /** A super peer bundle (.mjs) or "current", the one drasyl-deploy ships. */
  release?: string;
  batch?: number;
  canary?: string;
  soak?: number;
  dryRun: boolean;
  resume: boolean;
  json: boolean;
  /** The command line, for the audit log. */
  argv?: string[];
}

/** What --resume needs to continue where a rollout stopped. */
interface RolloutRecord {
  version: 1;
  /** The operator's file; --resume reads it again, so a fixed file is picked up. */
  source: string;
  /** The copy that was rolled out. */
  bundle: string;
  batch: number;
  canary?: string;
  soakSeconds: number;
  order: string[];
  status: "running" | "stopped" | "done";
  startedAt: string;
  updatedAt: string;
  outcomes: Omit<ServerOutcome, "journal">[];
  /**
   * Servers of the batch under way, with the release each ran before. A run killed mid-batch leaves
   * them on the new release without a passed gate: --resume gates them (and rolls them back) first.
   */
  inFlight?: Record<string, string>;
}

/**
 * On --resume, a server left on the new release by a killed run is not "already done": it never
 * passed its gate. It is planned again (the install finds nothing to change) and rolls back to the
 * release it ran before the interrupted batch.
 */
function ungated(surveyed: SurveyedServer[], resumed: RolloutRecord | undefined): SurveyedServer[] {
  const inFlight = resumed?.status === "running" ? (resumed.inFlight ?? {}) : {};
  return surveyed.map((s) => {
    const before = inFlight[s.name];
    return before !== undefined && !s.changes && s.current === s.target && before !== s.target
      ? { ...s, current: before, changes: true }
      : s;
  });
}

export class RolloutError extends Error {
  override readonly name = "RolloutError";
}

const DEFAULT_SOAK_SECONDS = 30;

function bundleOf(release: string | undefined): string {
  if (release === undefined || release === "current") return superPeerBundle();
  const path = resolve(release);
  if (!existsSync(path) || !statSync(path).isFile())
    throw new RolloutError(
      `--release ${release}: no such file (give a super peer bundle such as dist/drasyl-sp.mjs, or "current")`,
    );
  return path;
}

/** Every configured server must exist and have its backed-up identity: a rollout upgrades, `up` creates. */
async function fleet(d: Deployment): Promise<{ servers: Server[]; identities: Map<string, Identity> }> {
  const servers = await listServers(d);
  const names = serverNames(d.config);
  const missing = names.filter((n) => !servers.some((s) => s.name === n));
  if (missing.length > 0)
    throw new RolloutError(
      `${missing.join(", ")} ${missing.length === 1 ? "does" : "do"} not exist yet: run "drasyl-deploy up" first`,
    );
  const identities = new Map<string, Identity>();
  for (const s of servers) {
    const identity = loadIdentity(d.state, s.name);
    if (!identity) throw new RolloutError(`${s.name} has no identity in the local state: run "drasyl-deploy up" first`);
    identities.set(s.name, identity);
  }
  return { servers: servers.filter((s) => names.includes(s.name)), identities };
}

function render(
  json: boolean,
  out: (s: string) => void,
  progress: Progress,
  surveyed: SurveyedServer[],
): (e: RolloutEvent) => void {
  if (json) return (e) => out(`${JSON.stringify({ time: new Date().toISOString(), ...e })}\n`);
  const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
  return (e) => {
    switch (e.event) {
      case "plan":
        progress.note(
          `Rolling out ${e.bundle}\n${formatRolloutPlan({ order: e.order, batches: e.batches, unchanged: e.unchanged }, surveyed).trimEnd()}`,
        );
        break;
      case "batch":
        progress.note(`batch ${e.batch}${e.canary ? " (canary)" : ""}: ${e.servers.join(", ")}`);
        break;
      case "progress":
        progress.line(e.server, `  ${e.message}`);
        break;
      case "step":
        progress.line(e.server, `${e.ok ? "ok  " : "FAIL"} ${e.step} (${secs(e.ms)}): ${e.detail}`);
        break;
      case "server":
        break;
      case "done":
        out(report(e.outcomes, e.ok, e.stoppedAt, e.ms));
        break;
    }
  };
}

function report(outcomes: ServerOutcome[], ok: boolean, stoppedAt: number | undefined, ms: number): string {
  const rows = [
    ["SERVER", "REGION", "STATE", "BEFORE", "NOW"],
    ...outcomes.map((o) => [o.server, o.region, o.state, o.before ?? "-", o.now ?? "-"]),
  ];
  const lines = [`\n${table(rows)}`];
  for (const o of outcomes.filter((x) => x.error)) {
    lines.push(`${o.server}: ${o.error}\n`);
    if (o.journal?.length)
      lines.push(`  journal (journalctl -u drasyl-sp):\n${o.journal.map((l) => `    ${l}\n`).join("")}`);
  }
  lines.push(
    ok
      ? `Rollout complete in ${(ms / 1000).toFixed(1)} s.\n`
      : `Rollout stopped at batch ${stoppedAt ?? "?"}: that batch is back on its previous release; servers not yet upgraded are untouched. Fix the cause, then run "drasyl-deploy rollout --resume".\n`,
  );
  return lines.join("");
}

/**
 * `drasyl-deploy rollout`: upgrades the running super peers a batch at a time (a canary first),
 * gating every batch by the drasyl protocol before the next one starts.
 */
export async function rollout(
  opts: RolloutOptions,
  out: (s: string) => void = (s) => process.stdout.write(s),
): Promise<number> {
  const d = openDeployment(opts.config, opts.stateDir);
  const deployment = d.config.deployment;
  const recordFile = d.state.rolloutFile;
  const unlock = lockDeployment(d.state);
  const audited: ServerOutcome[] = [];
  let code = 1;
  try {
    const previous = readJson<RolloutRecord>(recordFile);
    if (opts.resume && (previous === undefined || previous.status === "done")) {
      throw new RolloutError(
        `there is no stopped rollout of "${deployment}" to resume${previous ? ` (the last one, started ${previous.startedAt}, completed)` : ""}; start one with "drasyl-deploy rollout"`,
      );
    }
    const resumed = opts.resume ? previous : undefined;
    if (!opts.resume && previous?.status === "running") {
      process.stderr.write(
        `warning: the rollout started ${previous.startedAt} was cut off in the middle of a batch (${Object.keys(previous.inFlight ?? {}).join(", ")}); "rollout --resume" would gate those servers first, this new rollout does not\n`,
      );
    }
    const source =
      opts.release !== undefined || resumed === undefined ? bundleOf(opts.release) : bundleOf(resumed.source);
    const { bundle, sha256 } = await keepBundle(d.state, source);
    const batch = opts.batch ?? resumed?.batch ?? 1;
    const canary = opts.canary ?? resumed?.canary;
    const soakSeconds = opts.soak ?? resumed?.soakSeconds ?? DEFAULT_SOAK_SECONDS;
    if (!opts.json)
      process.stderr.write(
        `Deployment "${deployment}" (${d.source})${resumed ? `: resuming the rollout started ${resumed.startedAt}` : ""}\n`,
      );

    const { servers, identities } = await fleet(d);
    const surveys = await Promise.all(
      servers.map((s) =>
        surveyServer(
          s,
          { identity: identities.get(s.name) as Identity, settings: d.settings, bundlePath: bundle },
          d.state.knownHostsFile,
        ),
      ),
    );
    const unreachable = surveys.flatMap((s) => (s.ok ? [] : [`${s.server}: ${s.error}`]));
    if (unreachable.length > 0)
      throw new RolloutError(`cannot start the rollout, nothing was changed:\n${unreachable.join("\n")}`);
    const surveyed = ungated(
      surveys.flatMap((s) => (s.ok ? [s.server] : [])),
      resumed,
    );
    const plan: RolloutPlan = planRollout(surveyed, {
      batch,
      ...(canary !== undefined ? { canary } : {}),
      ...(resumed ? { order: resumed.order } : {}),
    });

    if (opts.dryRun) {
      if (opts.json)
        out(
          `${JSON.stringify({ time: new Date().toISOString(), event: "plan", bundle: source, order: plan.order, batches: plan.batches, unchanged: plan.unchanged, servers: surveyed })}\n`,
        );
      else out(formatRolloutPlan(plan, surveyed));
      return (code = 0);
    }
    if (plan.batches.length === 0) {
      recordFleetRelease(d.state, { bundle, sha256, source });
      if (resumed) writeJson(d.state, recordFile, { ...resumed, status: "done", updatedAt: new Date().toISOString() });
      if (opts.json)
        out(
          `${JSON.stringify({ time: new Date().toISOString(), event: "done", ok: true, outcomes: surveyed.map((s) => ({ server: s.name, region: s.region, state: "unchanged", before: s.current, now: s.current })), ms: 0 })}\n`,
        );
      else out(formatRolloutPlan(plan, surveyed));
      for (const s of surveyed)
        audited.push({
          server: s.name,
          region: s.region,
          state: "unchanged",
          ...(s.current ? { before: s.current, now: s.current } : {}),
        });
      return (code = 0);
    }

    const record: RolloutRecord = {
      version: 1,
      source,
      bundle,
      batch,
      ...(canary !== undefined ? { canary } : {}),
      soakSeconds,
      order: plan.order,
      status: "running",
      startedAt: resumed?.startedAt ?? new Date().toISOString(),
      updatedAt: new Date().toISOString(),
      outcomes: [],
    };
    writeJson(d.state, recordFile, record);
    // Node A is the probe's identity (mined by every command already); only B may need mining, which
    // runs while the canary installs. The gate probes before and after its relay check, never during
    // it, so the probe and node A never register the same key at a super peer at once.
    const prober = await probeIdentity(d.state);
    const relayNodes = ensureIdentityFile(d.state, d.state.relayNodeIdentityFile).then(
      ({ identity }): [Identity, Identity] => [prober, identity],
    );
    relayNodes.catch(() => undefined);
    const progress = new Progress(servers.map((s) => s.name));
    const show = render(opts.json, out, progress, surveyed);
    const ok = await runRollout({
      servers,
      surveyed,
      plan,
      bundlePath: bundle,
      bundleSource: source,
      identities,
      settings: d.settings,
      knownHostsFile: d.state.knownHostsFile,
      prober,
      soakMs: soakSeconds * 1000,
      relayNodes,
      emit: (e) => {
        if (e.event === "batch") {
          const inFlight = Object.fromEntries(
            e.servers.map((n) => [n, surveyed.find((s) => s.name === n)?.current ?? ""]),
          );
          writeJson(d.state, recordFile, { ...record, updatedAt: new Date().toISOString(), inFlight });
        }
        if (e.event === "done") {
          audited.push(...e.outcomes);
          writeJson(d.state, recordFile, {
            ...record,
            status: e.ok ? "done" : "stopped",
            updatedAt: new Date().toISOString(),
            outcomes: e.outcomes.map(({ journal: _, ...o }) => o),
          });
          if (e.ok) recordFleetRelease(d.state, { bundle, sha256, source });
        }
        show(e);
      },
    });
    return (code = ok ? 0 : 1);
  } catch (e) {
    // What main() exits with for an error it prints.
    code = 2;
    throw e;
  } finally {
    unlock();
    appendAudit(d.state, {
      command: "rollout",
      args: opts.argv ?? [],
      exitCode: code,
      servers: audited.map((o) => ({
        server: o.server,
        result: o.state,
        ...(o.before ? { releaseBefore: o.before } : {}),
        ...(o.now ? { releaseAfter: o.now } : {}),
        ...(o.error ? { error: o.error } : {}),
      })),
    });
  }
}

function count(min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min) throw new InvalidArgumentError(`must be a whole number >= ${min}`);
    return n;
  };
}

export const registerRollout: Register = (program, globals) => {
  program
    .command("rollout")
    .description(
      "upgrade the running super peers a batch at a time (canary first), gating each batch by the drasyl protocol; roll a failed batch back and stop",
    )
    .addOption(configOption())
    .option(
      "--release <path|current>",
      "the super peer bundle to roll out (default: current, the one drasyl-deploy ships)",
    )
    .option("--batch <n>", "servers upgraded at once after the canary (default 1)", count(1))
    .option("--canary <server>", "the server upgraded and gated first, alone (default: the first in order)")
    .option(
      "--soak <seconds>",
      `how long each upgraded super peer must keep running unrestarted (default ${DEFAULT_SOAK_SECONDS})`,
      count(0),
    )
    .option("--dry-run", "print the batches and their order; change nothing", false)
    .option("--resume", "continue a stopped rollout (same release file, order and options) after a fix", false)
    .option("--json", "one JSON object per event on stdout", false)
    .action(async (o: Omit<RolloutOptions, "stateDir" | "argv">) => {
      process.exitCode = await rollout({ ...o, stateDir: globals().stateDir, argv: process.argv.slice(2) });
    });
};
