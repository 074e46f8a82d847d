import type { Identity } from "../../sp-runtime/identity/identity.ts";
import type { Server } from "../provider.ts";
import { executePlan } from "../install/executor.ts";
import { checkHealth, journalTail } from "../install/health.ts";
import { installServer } from "../install/installer.ts";
import { switchBackActions } from "../install/plan.ts";
import type { Settings } from "../install/settings.ts";
import { SshConnection } from "../install/ssh.ts";
import { type GateStep, journalSince, runGate } from "./gate.ts";
import type { Batch, RolloutPlan, SurveyedServer } from "./plan.ts";

/** Where a server stands after (or during) a rollout. */
export type ServerState = "upgraded" | "unchanged" | "rolled-back" | "failed" | "untouched";

export interface ServerOutcome {
  server: string;
  region: string;
  state: ServerState;
  /** The release it ran before the rollout. */
  before?: string;
  /** The release it runs now (after a rollback: the one it went back to). */
  now?: string;
  /** What failed, when something did. */
  error?: string;
  /** The journal lines of the failure, read before any rollback. */
  journal?: string[];
}

/** One JSON object per event with --json; the human output renders the same events as lines. */
export type RolloutEvent =
  | { event: "plan"; bundle: string; order: string[]; batches: Batch[]; unchanged: string[] }
  | { event: "batch"; batch: number; canary: boolean; servers: string[] }
  | { event: "progress"; server: string; message: string }
  | {
      event: "step";
      server: string;
      step: "install" | GateStep["step"] | "rollback";
      ok: boolean;
      ms: number;
      detail: string;
    }
  | { event: "server"; outcome: ServerOutcome }
  | { event: "done"; ok: boolean; stoppedAt?: number; outcomes: ServerOutcome[]; ms: number };

export interface RolloutRun {
  servers: Server[];
  surveyed: SurveyedServer[];
  plan: RolloutPlan;
  bundlePath: string;
  /** Where the bundle came from, for the output (bundlePath may be a kept copy). */
  bundleSource?: string;
  identities: Map<string, Identity>;
  settings: Settings;
  /** The pinned SSH host keys (StateDir.knownHostsFile). */
  knownHostsFile: string;
  /** The health probe's own node identity. */
  prober: Identity;
  soakMs: number;
  /** Two node identities for the relay check; a promise, so mining one overlaps the canary's install. */
  relayNodes: Promise<[Identity, Identity]>;
  emit: (e: RolloutEvent) => void;
  /** Lowered in tests: how long a freshly started release gets to answer. */
  healthTimeoutMs?: number;
}

/** A server that got the new release in this batch and has not been rolled back (yet). */
interface Switched {
  server: Server;
  before: string;
  release: string;
  gateError?: string;
  journal?: string[];
}

class Runner {
  private readonly outcomes = new Map<string, ServerOutcome>();
  private readonly byName: Map<string, Server>;
  private readonly surveyed: Map<string, SurveyedServer>;
  constructor(private readonly r: RolloutRun) {
    this.byName = new Map(r.servers.map((s) => [s.name, s]));
    this.surveyed = new Map(r.surveyed.map((s) => [s.name, s]));
    for (const s of r.surveyed) {
      const state: ServerState = r.plan.unchanged.includes(s.name) ? "unchanged" : "untouched";
      this.outcomes.set(s.name, {
        server: s.name,
        region: s.region,
        state,
        ...(s.current ? { before: s.current, now: s.current } : {}),
      });
    }
  }

  private set(outcome: ServerOutcome): void {
    this.outcomes.set(outcome.server, outcome);
    this.r.emit({ event: "server", outcome });
  }

  private step(
    server: string,
    step: Extract<RolloutEvent, { event: "step" }>["step"],
    ok: boolean,
    ms: number,
    detail: string,
  ): void {
    this.r.emit({ event: "step", server, step, ok, ms, detail });
  }

  async run(): Promise<boolean> {
    const started = Date.now();
    const { plan } = this.r;
    this.r.emit({
      event: "plan",
      bundle: this.r.bundleSource ?? this.r.bundlePath,
      order: plan.order,
      batches: plan.batches,
      unchanged: plan.unchanged,
    });
    let stoppedAt: number | undefined;
    for (const batch of plan.batches) {
      this.r.emit({ event: "batch", batch: batch.index + 1, canary: batch.canary, servers: batch.servers });
      if (!(await this.batch(batch))) {
        stoppedAt = batch.index + 1;
        break;
      }
    }
    const outcomes = plan.order.map((n) => this.outcomes.get(n)).filter((o): o is ServerOutcome => o !== undefined);
    this.r.emit({
      event: "done",
      ok: stoppedAt === undefined,
      ...(stoppedAt !== undefined ? { stoppedAt } : {}),
      outcomes,
      ms: Date.now() - started,
    });
    return stoppedAt === undefined;
  }

  /** Upgrades and gates one batch; on any failure the whole batch goes back. */
  private async batch(batch: Batch): Promise<boolean> {
    const switched: Switched[] = [];
    let failed = false;
    await Promise.all(
      batch.servers.map(async (name) => {
        const s = await this.upgrade(name);
        if (s === undefined) failed = true;
        else {
          switched.push(s);
          if (s.gateError !== undefined) failed = true;
        }
      }),
    );
    if (!failed) {
      for (const s of switched)
        this.set({ ...(this.outcomes.get(s.server.name) as ServerOutcome), state: "upgraded", now: s.release });
      return true;
    }
    await Promise.all(
      switched.map((s) =>
        this.rollBack(s, s.gateError ?? `another server of batch ${batch.index + 1} failed its gate`),
      ),
    );
    return false;
  }

  /** Install (the installer itself rolls back a release that does not start), then the gate. */
  private async upgrade(name: string): Promise<Switched | undefined> {
    const server = this.byName.get(name) as Server;
    const before = this.surveyed.get(name)?.current as string;
    const identity = this.r.identities.get(name) as Identity;
    const t = Date.now();
    const result = await installServer(
      server,
      { identity, settings: this.r.settings, bundlePath: this.r.bundlePath },
      {
        knownHostsFile: this.r.knownHostsFile,
        prober: this.r.prober,
        onProgress: (message) => this.r.emit({ event: "progress", server: name, message }),
        ...(this.r.healthTimeoutMs ? { healthTimeoutMs: this.r.healthTimeoutMs } : {}),
      },
    );
    const release = result.release?.id ?? "-";
    // "unchanged": a resumed run found the release already switched by a run that was cut off; it still needs its gate.
    const ok = result.status === "updated" || result.status === "installed" || result.status === "unchanged";
    const startCheck = result.health ? `, answered after ${(result.health.elapsedMs / 1000).toFixed(1)} s` : "";
    const detail =
      result.status === "unchanged"
        ? `release ${release} already in place (an interrupted run switched it), not restarted`
        : ok
          ? `release ${release} started${startCheck}`
          : `${result.status}: ${result.error ?? ""}`;
    this.step(name, "install", ok, Date.now() - t, detail);
    const base = this.outcomes.get(name) as ServerOutcome;
    if (!ok) {
      const rolledBack = result.status === "rolled-back";
      this.set({
        ...base,
        state: rolledBack ? "rolled-back" : "failed",
        now: rolledBack ? (result.rolledBackTo ?? before) : base.now,
        error: `install: ${result.error ?? result.status}`,
        ...(result.journal ? { journal: result.journal } : {}),
      } as ServerOutcome);
      return undefined;
    }
    const switched: Switched = { server, before, release };
    let conn: SshConnection | undefined;
    try {
      conn = await SshConnection.open(server, { knownHostsFile: this.r.knownHostsFile });
      // Not one of this batch: its own relay check registers the same two node keys there, and the last HELLO wins.
      const sameBatch = this.r.plan.batches.find((b) => b.servers.includes(name))?.servers ?? [];
      const other = this.r.servers.find(
        (s) => !sameBatch.includes(s.name) && this.outcomes.get(s.name)?.state !== "failed",
      );
      const otherKey = other ? this.r.identities.get(other.name)?.publicKeyHex : undefined;
      const gate = await runGate(conn, server, identity.publicKeyHex, this.r.settings, this.r.prober, {
        soakMs: this.r.soakMs,
        relay: {
          nodes: await this.r.relayNodes,
          ...(other && otherKey ? { other: { server: other, publicKeyHex: otherKey } } : {}),
        },
        onStep: (s) => this.step(name, s.step, s.ok, s.ms, s.detail),
      });
      if (!gate.ok) {
        switched.gateError = `gate: ${gate.error ?? "failed"}`;
        switched.journal = await journalSince(conn, gate.before.activeEnterTimestamp).catch(() => []);
      }
    } catch (e) {
      switched.gateError = `gate: ${(e as Error).message}`;
    } finally {
      conn?.close();
    }
    return switched;
  }

  /** Back to the release the server ran before, probed again like a fresh start. */
  private async rollBack(s: Switched, why: string): Promise<void> {
    const name = s.server.name;
    const base = this.outcomes.get(name) as ServerOutcome;
    const t = Date.now();
    let conn: SshConnection | undefined;
    try {
      conn = await SshConnection.open(s.server, { knownHostsFile: this.r.knownHostsFile });
      const journal = s.journal ?? (await journalTail(conn).catch(() => []));
      await executePlan(conn, switchBackActions(s.before), (message) =>
        this.r.emit({ event: "progress", server: name, message }),
      );
      const identity = this.r.identities.get(name) as Identity;
      const health = await checkHealth(
        conn,
        s.server,
        identity.publicKeyHex,
        this.r.settings,
        { identity: this.r.prober },
        { timeoutMs: this.r.healthTimeoutMs ?? 20_000, justStarted: true },
      );
      this.step(
        name,
        "rollback",
        health.ok,
        Date.now() - t,
        health.ok
          ? `back on release ${s.before}, answers over UDP and TCP`
          : `back on release ${s.before}, but it does not answer: ${health.error ?? ""}`,
      );
      this.set({
        ...base,
        state: health.ok ? "rolled-back" : "failed",
        now: s.before,
        error: why + (health.ok ? "" : `; after the rollback: ${health.error ?? ""}`),
        journal,
      });
    } catch (e) {
      this.step(name, "rollback", false, Date.now() - t, (e as Error).message);
      this.set({
        ...base,
        state: "failed",
        now: s.release,
        error: `${why}; the rollback failed: ${(e as Error).message}`,
        ...(s.journal ? { journal: s.journal } : {}),
      });
    } finally {
      conn?.close();
    }
  }
}

/**
 * Carries out a rollout plan: batch after batch, each upgraded in parallel and gated; the first
 * failing batch goes back to its previous release and the rollout stops, leaving later servers
 * untouched. Resolves with whether every batch passed.
 */
export function runRollout(r: RolloutRun): Promise<boolean> {
  return new Runner(r).run();
}
