import type { Identity } from "../../sp-runtime/identity/identity.ts";
import { parseIdentityFile } from "../../sp-runtime/identity/identity-file.ts";
import type { ProbeResult } from "../../sp-runtime/node/prober.ts";
import { bytesToHex } from "../../sp-runtime/util/hex.ts";
import type { Server, ServerArch } from "../provider.ts";
import { ExecutionError, executePlan } from "./executor.ts";
import { type Facts, gatherFacts } from "./facts.ts";
import {
  checkDnsName,
  checkHealth,
  type EndpointProbe,
  type HealthReport,
  journalTail,
  probeServer,
  serviceState,
} from "./health.ts";
import { CURRENT_LINK, ENV_FILE, IDENTITY_FILE, RUNTIMES_DIR, SERVICE_USER, UNIT_FILE } from "./layout.ts";
import {
  type Action,
  type IdentityPolicy,
  type Owner,
  type Plan,
  planInstall,
  type Release,
  sha256Hex,
  switchBackActions,
} from "./plan.ts";
import { resolveRelease, type RuntimeSource } from "./release.ts";
import { redact, Secret } from "./secret.ts";
import { DEFAULT_SETTINGS, type Settings } from "./settings.ts";
import { shq } from "./shell.ts";
import { SshConnection } from "./ssh.ts";

/** What to install: the identity and settings are the deployment's, bundle and runtime default to the shipped ones. */
export interface DeploySpec {
  identity: Identity;
  /** Resolved (resolveSettings); default DEFAULT_SETTINGS. */
  settings?: Settings;
  /** Default: dist/drasyl-sp.mjs. */
  bundlePath?: string;
  /** Default: the pinned, integrity-checked Node runtime. */
  runtime?: RuntimeSource;
  identityPolicy?: IdentityPolicy;
}

export interface InstallOptions {
  /** The pinned SSH host keys (StateDir.knownHostsFile). */
  knownHostsFile: string;
  /** The health probe's own node identity (StateDir.probeIdentityFile). */
  prober: Identity;
  /** Plan only: connects and reads facts, changes nothing. */
  dryRun?: boolean;
  /** Overrides spec.identityPolicy (the command layer sets it per server from --adopt/--replace-identity). */
  identityPolicy?: IdentityPolicy;
  onProgress?: (msg: string) => void;
  connectTimeoutMs?: number;
  /** How long a (re)started super peer has to answer both probes. Default 20 s. */
  healthTimeoutMs?: number;
  now?: Date;
}

export type InstallStatus = "unchanged" | "installed" | "updated" | "rolled-back" | "failed" | "planned";

export interface InstallResult {
  server: string;
  status: InstallStatus;
  plan?: Plan;
  release?: Release;
  /** The release a rollback returned to, or "previous configuration" when only the unit and settings were put back. */
  rolledBackTo?: string;
  health?: HealthReport;
  /** With status "failed" or "rolled-back": what went wrong (no secrets). */
  error?: string;
  /** With status "failed" or "rolled-back": the last lines of the service's journal from before any rollback. */
  journal?: string[];
  /** With identityPolicy "adopt" when the server's identity was kept: save it into the local state. */
  adoptedIdentity?: Identity;
  timings: {
    totalMs: number;
    connectMs?: number;
    factsMs?: number;
    executeMs?: number;
    healthMs?: number;
    rollbackMs?: number;
  };
}

/** Reads the identity file on the server, secret key included: only for adopting it into the local state. */
export async function fetchRemoteIdentity(conn: SshConnection): Promise<Identity> {
  const text = await conn.check(`cat -- ${shq(IDENTITY_FILE)}`, `reading ${IDENTITY_FILE}`);
  return parseIdentityFile(text, `${conn.server.name}:${IDENTITY_FILE}`);
}

type Timings = InstallResult["timings"];

async function timed<T>(timings: Timings, key: Exclude<keyof Timings, "totalMs">, f: () => Promise<T>): Promise<T> {
  const t = Date.now();
  try {
    return await f();
  } finally {
    timings[key] = (timings[key] ?? 0) + Date.now() - t;
  }
}

/** One installServer call once connected: the steps share the connection, settings and result. */
class InstallRun {
  private readonly progress: (msg: string) => void;

  constructor(
    private readonly conn: SshConnection,
    private readonly spec: DeploySpec,
    private readonly opts: InstallOptions,
    private readonly settings: Settings,
    private readonly result: InstallResult,
  ) {
    this.progress = opts.onProgress ?? (() => {});
  }

  private get server(): Server {
    return this.conn.server;
  }

  private health(publicKey: string, justStarted: boolean): Promise<HealthReport> {
    const timeoutMs = this.opts.healthTimeoutMs ?? (justStarted ? 20_000 : 10_000);
    return checkHealth(
      this.conn,
      this.server,
      publicKey,
      this.settings,
      { identity: this.opts.prober },
      { timeoutMs, justStarted },
    );
  }

  async run(): Promise<void> {
    const { conn, server, spec, opts, settings, result, progress } = this;
    const facts = await timed(result.timings, "factsMs", () => gatherFacts(conn));
    progress(
      `${facts.machine}, ${facts.current ? `running release ${facts.current} (${facts.active})` : "drasyl-sp not installed"}`,
    );
    const release = await resolveRelease(facts.arch, spec.bundlePath, spec.runtime);
    result.release = release;

    const policy = opts.identityPolicy ?? spec.identityPolicy ?? "refuse";
    let identity = spec.identity;
    const remoteKey = facts.identity.present ? facts.identity.publicKey : undefined;
    // A dry run never pulls a secret key; the planner then shows the server's identity being kept.
    if (policy === "adopt" && !opts.dryRun && remoteKey && remoteKey !== identity.publicKeyHex) {
      progress(`adopting the server's identity ${remoteKey}`);
      identity = await fetchRemoteIdentity(conn);
      if (identity.publicKeyHex !== remoteKey)
        throw new Error(`the identity file on ${server.name} changed while installing; run again`);
      result.adoptedIdentity = identity;
    }
    if (!opts.dryRun) {
      // Before anything changes: a wrong DNS record is not the release's fault, so it must not cause a rollback.
      const dns = await checkDnsName(server);
      if (dns.problem) return this.fail(dns.problem);
    }
    const plan = planInstall(
      facts,
      { release, identity, settings, identityPolicy: policy },
      { server: server.name, ...(opts.now ? { now: opts.now } : {}) },
    );
    result.plan = plan;
    if (opts.dryRun) {
      result.status = "planned";
      return;
    }
    if (plan.actions.length === 0) {
      progress("up to date; checking that it answers");
      result.health = await timed(result.timings, "healthMs", () => this.health(plan.publicKey, false));
      if (result.health.ok) result.status = "unchanged";
      else await this.fail(`nothing needed changing, but the super peer is unhealthy: ${result.health.error}`);
      return;
    }

    // Until `current` is switched the old release runs untouched; after it, a failure means rolling back.
    const switchAt = plan.actions.findIndex((a) => a.kind === "symlink" && a.path === CURRENT_LINK);
    const releaseBack = switchAt >= 0 && plan.previousRelease !== undefined;
    const configBack = facts.active === "active" ? await this.savedConfig(facts, plan) : [];
    const rollBack = releaseBack || configBack.length > 0;
    try {
      await timed(result.timings, "executeMs", () => executePlan(conn, plan.actions, progress));
    } catch (e) {
      if (releaseBack && e instanceof ExecutionError && e.index > switchAt)
        return this.rollBack(plan, e.message, configBack);
      throw e;
    }
    if (plan.restarts) {
      progress("waiting for drasyl-sp to answer over UDP and TCP");
      result.health = await timed(result.timings, "healthMs", () => this.health(plan.publicKey, true));
      if (!result.health.ok) {
        const what = releaseBack ? `release ${plan.release}` : "the new configuration";
        if (rollBack) return this.rollBack(plan, `${what} is unhealthy: ${result.health.error}`, configBack);
        return this.fail(result.health.error ?? "unhealthy");
      }
    }
    result.status = plan.fresh ? "installed" : "updated";
  }

  /**
   * The unit and env file as they are before the plan rewrites them, as actions that put them back.
   * Only taken when the service was running, i.e. when the old configuration is one that worked.
   */
  private async savedConfig(facts: Facts, plan: Plan): Promise<Action[]> {
    const restore: Action[] = [];
    for (const a of plan.actions) {
      const before = facts.paths[a.kind === "file" ? a.path : ""];
      if (
        a.kind !== "file" ||
        (a.path !== UNIT_FILE && a.path !== ENV_FILE) ||
        before?.type !== "file" ||
        before.mode === undefined
      )
        continue;
      const text = await this.conn.check(`cat -- ${shq(a.path)}`, `saving ${a.path} for a rollback`);
      const owner: Owner = before.owner === SERVICE_USER ? SERVICE_USER : "root";
      // The env file may hold the metrics token.
      const content = a.path === ENV_FILE ? new Secret(text) : text;
      restore.push({
        kind: "file",
        path: a.path,
        sha256: sha256Hex(text),
        mode: before.mode,
        owner,
        content,
        why: "the previous, working version",
      });
    }
    if (restore.some((a) => a.kind === "file" && a.path === UNIT_FILE)) restore.push({ kind: "daemon-reload" });
    return restore;
  }

  /** Records the failure, with the journal when something was carried out (then it may say why). */
  async fail(error: string): Promise<void> {
    this.result.status = "failed";
    this.result.error = error;
    if (this.result.plan?.actions.length && !this.opts.dryRun)
      this.result.journal = await journalTail(this.conn).catch(() => undefined);
  }

  /**
   * Puts back the previous release and/or the previous unit and env file, restarts and checks. The
   * journal is read first, while it still shows the failure.
   */
  private async rollBack(plan: Plan, why: string, configBack: Action[]): Promise<void> {
    const { result } = this;
    const previous = plan.previousRelease;
    const switched =
      plan.actions.some((a) => a.kind === "symlink" && a.path === CURRENT_LINK) && previous !== undefined;
    const target = [
      switched ? `release ${previous}` : "",
      configBack.length > 0 ? "the previous unit and settings" : "",
    ]
      .filter(Boolean)
      .join(" with ");
    await timed(result.timings, "rollbackMs", async () => {
      result.journal = await journalTail(this.conn).catch(() => undefined);
      this.progress(`${why}; rolling back to ${target}`);
      try {
        const actions = switched
          ? [...configBack, ...switchBackActions(previous)]
          : [...configBack, { kind: "restart" } as const];
        await executePlan(this.conn, actions, this.progress);
        result.health = await this.health(plan.publicKey, true);
        if (result.health.ok) {
          result.status = "rolled-back";
          result.rolledBackTo = switched ? previous : "previous configuration";
          result.error = `${why}; rolled back to ${target}, which answers again`;
        } else {
          result.status = "failed";
          result.error = `${why}; the rollback to ${target} did not help either: ${result.health.error}`;
        }
      } catch (e) {
        result.status = "failed";
        result.error = `${why}; the rollback to ${target} failed: ${(e as Error).message}`;
      }
    });
  }
}

/**
 * One server from facts to a verified super peer: connect, read facts, plan, carry out, check that
 * it answers drasyl HELLOs over UDP and TCP with the expected key, and return to the previous
 * release if the new one does not. Never throws: every problem ends in a result with status
 * "failed" (or "rolled-back"), so one server cannot break the others installed alongside it.
 */
export async function installServer(server: Server, spec: DeploySpec, opts: InstallOptions): Promise<InstallResult> {
  const started = Date.now();
  const result: InstallResult = { server: server.name, status: "failed", timings: { totalMs: 0 } };
  let conn: SshConnection | undefined;
  let run: InstallRun | undefined;
  try {
    const settings = spec.settings ?? DEFAULT_SETTINGS;
    opts.onProgress?.("connecting");
    const connectOpts = {
      knownHostsFile: opts.knownHostsFile,
      ...(opts.connectTimeoutMs ? { timeoutMs: opts.connectTimeoutMs } : {}),
    };
    conn = await timed(result.timings, "connectMs", () => SshConnection.open(server, connectOpts));
    run = new InstallRun(conn, spec, opts, settings, result);
    await run.run();
  } catch (e) {
    if (run) await run.fail((e as Error).message);
    else Object.assign(result, { status: "failed", error: (e as Error).message });
  } finally {
    conn?.close();
    // Belt and braces: no message we pass on should hold a secret, and none may.
    const secrets = [
      bytesToHex(spec.identity.secretKey),
      spec.settings?.prometheusToken ?? "",
      ...(result.adoptedIdentity ? [bytesToHex(result.adoptedIdentity.secretKey)] : []),
    ];
    if (result.error) result.error = redact(result.error, secrets);
    if (result.journal) result.journal = result.journal.map((l) => redact(l, secrets));
    result.timings.totalMs = Date.now() - started;
  }
  return result;
}

export interface StatusOptions {
  /** The pinned SSH host keys (StateDir.knownHostsFile). */
  knownHostsFile: string;
  /** The health probe's own node identity (StateDir.probeIdentityFile). */
  prober: Identity;
  settings: Settings;
  connectTimeoutMs?: number;
  probeTimeoutMs?: number;
}

export interface ServerStatus {
  server: string;
  /** Whether SSH and the facts worked; probes are reported separately. */
  reachable: boolean;
  error?: string;
  arch?: ServerArch;
  active?: string;
  enabled?: string;
  mainPid?: number;
  release?: string;
  nodeVersion?: string;
  /** Other releases kept on the server (rollback targets), newest first. */
  otherReleases?: string[];
  identityPublicKey?: string;
  udp?: ProbeResult;
  tcp?: ProbeResult;
  /** Per address clients may use (the DNS name's, IPv4, IPv6). */
  endpoints?: EndpointProbe[];
}

function nodeVersionOf(facts: Facts): string | undefined {
  const link = facts.releases.find((r) => r.id === facts.current)?.runtime;
  const m = link?.startsWith(`${RUNTIMES_DIR}/`)
    ? /^node-(.+)-(x64|arm64)$/.exec(link.slice(RUNTIMES_DIR.length + 1).split("/")[0] ?? "")
    : null;
  return m?.[1];
}

/** For `drasyl-deploy status`: what runs on the server and whether it answers, changing nothing. */
export async function serverStatus(server: Server, opts: StatusOptions): Promise<ServerStatus> {
  const status: ServerStatus = { server: server.name, reachable: false };
  let conn: SshConnection | undefined;
  try {
    conn = await SshConnection.open(server, {
      knownHostsFile: opts.knownHostsFile,
      ...(opts.connectTimeoutMs ? { timeoutMs: opts.connectTimeoutMs } : {}),
    });
    const facts = await gatherFacts(conn);
    const state = await serviceState(conn);
    const nodeVersion = nodeVersionOf(facts);
    Object.assign(status, {
      reachable: true,
      arch: facts.arch,
      active: facts.active,
      enabled: facts.enabled,
      mainPid: state.mainPid,
      ...(facts.current ? { release: facts.current } : {}),
      ...(nodeVersion ? { nodeVersion } : {}),
      otherReleases: facts.releases.map((r) => r.id).filter((id) => id !== facts.current),
    });
    if (facts.identity.present && facts.identity.publicKey) {
      status.identityPublicKey = facts.identity.publicKey;
      const probe = await probeServer(server, facts.identity.publicKey, opts.settings, {
        identity: opts.prober,
        timeoutMs: opts.probeTimeoutMs ?? 3000,
      });
      Object.assign(status, { udp: probe.udp, tcp: probe.tcp, endpoints: probe.endpoints });
      if (!probe.ok) status.error = probe.error;
    } else if (facts.identity.present) {
      status.error = "the identity file on the server holds no well-formed SecretKey";
    }
  } catch (e) {
    status.error = (e as Error).message;
  } finally {
    conn?.close();
  }
  return status;
}
