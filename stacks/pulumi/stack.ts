import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import type { EngineEvent, PulumiCommand } from "@pulumi/pulumi/automation/index.js";
import { type DeploymentState, privateDir } from "../state/state-dir.ts";
import { CloudError, DebugLog, explainEngineError } from "./errors.ts";
import { Cancellation, type InterruptSource, processInterrupts } from "./interrupt.ts";
import { parseLockError, staleLockVerdict } from "./locks.ts";
import type { CloudProfile } from "./profile.ts";
import { parseUrn, resourceKind } from "./progress.ts";
import { automationSdk } from "./sdk.ts";

/** Where one deployment's stack for one cloud lives. */
export interface StackLocation {
  cloud: CloudProfile;
  state: DeploymentState;
  projectName: string;
  stackName: string;
  backendUrl: string;
  /** Pulumi.yaml and Pulumi.<stack>.yaml (the passphrase's salt): kept, in the deployment's state. */
  workDir: string;
  debugLogPath: string;
}

/** The default backend is Pulumi's file backend in drasyl-deploy's state dir: no Pulumi account needed. */
export function stackLocation(cloud: CloudProfile, state: DeploymentState, backendUrl?: string): StackLocation {
  return {
    cloud,
    state,
    projectName: `drasyl-deploy-${cloud.kind}`,
    stackName: state.deployment,
    backendUrl: backendUrl ?? state.pulumiBackendUrl,
    workDir: state.pulumiWorkDir(cloud.kind),
    debugLogPath: state.pulumiLogFile(cloud.kind),
  };
}

export interface EngineRunOptions {
  onEvent: (e: EngineEvent) => void;
  onOutput: (text: string) => void;
  /** The engine's stderr (warnings, errors). */
  onError: (text: string) => void;
  signal: AbortSignal;
}

/** A resource operation the engine started and never saw end (its process was killed). */
export interface PendingOperation {
  /** As the state records it: creating, updating, deleting, reading, importing. */
  type: string;
  urn: string;
}

export type StackOutputs = Record<string, { value: unknown; secret?: boolean }>;

/** The few stack operations drasyl-deploy uses; the real one is the Automation API's Stack. */
export interface Engine {
  preview(o: EngineRunOptions): Promise<{ changeSummary: Record<string, number | undefined> }>;
  up(o: EngineRunOptions): Promise<{ outputs: StackOutputs }>;
  destroy(o: EngineRunOptions): Promise<void>;
  /** `pulumi cancel`: on the file backend it deletes the stack's lock files. */
  cancel(): Promise<void>;
  outputs(): Promise<StackOutputs>;
  /** The pending operations recorded in the stack's state (`pulumi stack export`). */
  pendingOperations(): Promise<PendingOperation[]>;
  /** `pulumi refresh --clear-pending-creates`: drops pending creates from the state. */
  clearPendingCreates(o: EngineRunOptions): Promise<void>;
}

export interface EngineSetup {
  location: StackLocation;
  program: () => Promise<Record<string, unknown>>;
  /** Passed to the engine process as its environment (credentials, passphrase); never stored. */
  envVars: Record<string, string>;
  command: PulumiCommand;
}

export type EngineFactory = (setup: EngineSetup) => Promise<Engine>;

/** The Automation API: an inline program in a LocalWorkspace, one stack per deployment and cloud. */
export const automationEngine: EngineFactory = async ({ location, program, envVars, command }) => {
  const { LocalWorkspace } = automationSdk();
  location.state.ensureDir(location.workDir);
  if (location.backendUrl.startsWith("file://")) privateDir(location.backendUrl.slice("file://".length));
  const stack = await LocalWorkspace.createOrSelectStack(
    { stackName: location.stackName, projectName: location.projectName, program },
    {
      workDir: location.workDir,
      pulumiCommand: command,
      secretsProvider: "passphrase",
      // The backend in both places, so a PULUMI_BACKEND_URL of the operator's other projects cannot redirect ours.
      envVars: { ...envVars, PULUMI_BACKEND_URL: location.backendUrl },
      projectSettings: {
        name: location.projectName,
        runtime: "nodejs",
        backend: { url: location.backendUrl },
        description: "drasyl super peers (managed by drasyl-deploy)",
      },
    },
  );
  return {
    preview: async (o) => ({ changeSummary: (await stack.preview({ ...o, refresh: true })).changeSummary }),
    up: async (o) => ({ outputs: (await stack.up({ ...o, refresh: true })).outputs }),
    destroy: async (o) => {
      await stack.destroy({ ...o, refresh: true });
    },
    cancel: () => stack.cancel(),
    outputs: () => stack.outputs(),
    pendingOperations: async () => {
      const state = (await stack.exportStack()).deployment as
        { pending_operations?: { type: string; resource: { urn: string } }[] } | undefined;
      return (state?.pending_operations ?? []).map((p) => ({ type: p.type, urn: p.resource.urn }));
    },
    clearPendingCreates: async (o) => {
      await stack.refresh({ ...o, clearPendingCreates: true });
    },
  };
};

/**
 * A stack's outputs read straight from the file backend's checkpoint, without the CLI or the
 * passphrase (the outputs are not secret): `status` and `peers` work offline. undefined when the
 * stack does not exist (yet).
 */
export function readFileBackendOutputs(location: StackLocation): Record<string, unknown> | undefined {
  if (!location.backendUrl.startsWith("file://")) throw new Error("not a file backend");
  const root = join(location.backendUrl.slice("file://".length), ".pulumi", "stacks");
  const candidates = [
    join(root, location.projectName, `${location.stackName}.json`),
    join(root, `${location.stackName}.json`),
  ];
  for (const file of candidates.flatMap((f) => [f, `${f}.gz`])) {
    if (!existsSync(file)) continue;
    const raw = readFileSync(file);
    const text = file.endsWith(".gz") ? gunzipSync(raw).toString("utf8") : raw.toString("utf8");
    const doc = JSON.parse(text) as {
      checkpoint?: { latest?: { resources?: { type: string; outputs?: Record<string, unknown> }[] } };
    };
    const stack = doc.checkpoint?.latest?.resources?.find((r) => r.type === "pulumi:pulumi:Stack");
    return stack?.outputs ?? {};
  }
  return undefined;
}

export interface OperationContext {
  location: StackLocation;
  openEngine: () => Promise<Engine>;
  log: DebugLog;
  onEvent: (e: EngineEvent) => void;
  /** Progress of the stack as a whole (shared resources, cancellation, locks). */
  note: (message: string) => void;
  /** Called on the first Ctrl-C, when the engine is asked to cancel. */
  onCancelRequested?: () => void;
  interrupts?: InterruptSource;
  /** Kills the engine on a second Ctrl-C; default: this process's pulumi* descendants. */
  kill?: () => number[];
  /** For tests: this machine's host name and PID as the lock check sees them. */
  lockCheck?: { hostname?: string; selfPid?: number; alive?: (pid: number) => boolean };
}

export type Operation = "preview" | "up" | "destroy";

/**
 * Runs one engine operation with everything around it: the full output into the debug log,
 * two-stage Ctrl-C, a stale lock from a crashed run cleared (once, and only when it is provably
 * stale), and known failures turned into short CloudErrors.
 */
export async function runOperation<T>(
  ctx: OperationContext,
  op: Operation,
  call: (engine: Engine, o: EngineRunOptions) => Promise<T>,
): Promise<T> {
  const { location, log } = ctx;
  log.section(`${op} ${location.projectName}/${location.stackName} (backend ${location.backendUrl})`);
  let engine: Engine;
  try {
    engine = await ctx.openEngine();
  } catch (e) {
    throw mapError(ctx, e, op);
  }
  const reported = new Set<string>();
  for (let attempt = 0; ; attempt++) {
    const cancellation = new Cancellation(ctx.interrupts ?? processInterrupts, {
      onCancel: () => {
        ctx.onCancelRequested?.();
        ctx.note(
          `Ctrl-C: cancelling ${op}; the engine finishes what is in flight, starts nothing new and saves its state. Press Ctrl-C again to kill it (operations in flight are then left pending)`,
        );
      },
      onKill: (pids) =>
        ctx.note(`Ctrl-C again: killed the engine${pids.length > 0 ? ` (pids ${pids.join(", ")})` : ""}`),
      ...(ctx.kill ? { kill: ctx.kill } : {}),
    });
    const options: EngineRunOptions = {
      signal: cancellation.signal,
      onOutput: (text) => log.write(text),
      onError: (text) => log.write(text),
      // A provider may echo a credential in an error (a request with its headers): not onto the terminal either.
      onEvent: (e) =>
        ctx.onEvent(
          e.diagnosticEvent
            ? { ...e, diagnosticEvent: { ...e.diagnosticEvent, message: log.redact(e.diagnosticEvent.message) } }
            : e,
        ),
    };
    try {
      if (op !== "preview") await settlePendingOperations(ctx, engine, options, reported);
      return await call(engine, options);
    } catch (e) {
      const text = log.redact(errorText(e));
      log.write(`\n--- ${op} failed:\n${text}\n`);
      const signal = /Command was killed with (SIG[A-Z]+)/.exec(text)?.[1];
      if (cancellation.state === "killed" || (signal && cancellation.state === "running")) {
        const what =
          cancellation.state === "killed"
            ? `${op} killed`
            : `${op} failed: the Pulumi engine was killed (${signal}) by something other than drasyl-deploy`;
        throw new CloudError(
          "killed",
          `${what}. Resource operations that were in flight may be left pending in the Pulumi state, and the cloud may hold resources the state does not know (they carry the labels/tags managed-by=drasyl-deploy, deployment=${location.state.deployment}). Run \`drasyl-deploy up\` again to converge (or \`destroy\`), then look for such leftovers in the ${location.cloud.consoleName}`,
          log.path,
        );
      }
      if (cancellation.state === "cancelling") {
        throw new CloudError(
          "cancelled",
          `${op} cancelled: the engine stopped after the operations in flight and saved its state; what it had not reached is unchanged. Run \`drasyl-deploy up\` to continue, or \`drasyl-deploy destroy\` to remove what exists`,
          log.path,
        );
      }
      const explained = explainEngineError(text, location.cloud, `${location.projectName}/${location.stackName}`);
      if (explained.kind === "lock-held") {
        const verdict = staleLockVerdict(parseLockError(text), { state: location.state, ...ctx.lockCheck });
        if (verdict.stale && attempt === 0) {
          ctx.note(`clearing a stale Pulumi lock: ${verdict.reason}`);
          log.write(`--- clearing the stale lock (pulumi cancel): ${verdict.reason}\n`);
          try {
            await engine.cancel();
          } catch (c) {
            throw new CloudError(
              "lock-held",
              `${explained.message}; clearing the stale lock failed: ${errorText(c).split("\n")[0]}`,
              log.path,
            );
          }
          continue;
        }
        throw new CloudError("lock-held", `${explained.message}; ${verdict.reason}`, log.path);
      }
      throw new CloudError(explained.kind, explained.message, log.path);
    } finally {
      cancellation.dispose();
    }
  }
}

/**
 * Operations a killed engine left pending in the state. The refresh of up and destroy settles a
 * pending update or delete, but a pending create stays for good (only an interactive refresh
 * resolves it), and the engine cannot know whether the cloud made the resource: say which one to
 * look for, then drop it from the state, so the run creates it anew.
 */
async function settlePendingOperations(
  ctx: OperationContext,
  engine: Engine,
  o: EngineRunOptions,
  reported: Set<string>,
): Promise<void> {
  const pending = await engine.pendingOperations();
  if (pending.length === 0) return;
  const { location } = ctx;
  for (const p of pending) {
    // Once per operation, also when clearing them first needs a stale lock cleared.
    if (reported.has(`${p.type} ${p.urn}`)) continue;
    reported.add(`${p.type} ${p.urn}`);
    const { type, name } = parseUrn(p.urn);
    const what = `an earlier run was killed while ${p.type} ${resourceKind(type)} ${name}`;
    ctx.note(
      p.type === "creating"
        ? `${what}: it may exist in the cloud without being in the Pulumi state; look for it in the ${location.cloud.consoleName} (labels managed-by=drasyl-deploy, deployment=${location.state.deployment}) and delete it if so (with a fixed name, it makes this run fail until then)`
        : `${what}: this run reads its actual state from the cloud and goes on from there`,
    );
  }
  if (pending.some((p) => p.type === "creating")) {
    ctx.log.write(
      `--- clearing ${pending.length} pending operation(s) left by a killed run (pulumi refresh --clear-pending-creates)\n`,
    );
    await engine.clearPendingCreates({ ...o, onEvent: () => {} });
  }
}

function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

function mapError(ctx: OperationContext, e: unknown, op: Operation): CloudError {
  if (e instanceof CloudError) return e;
  const text = ctx.log.redact(errorText(e));
  ctx.log.write(`\n--- ${op}: opening the stack failed:\n${text}\n`);
  const explained = explainEngineError(
    text,
    ctx.location.cloud,
    `${ctx.location.projectName}/${ctx.location.stackName}`,
  );
  return new CloudError(explained.kind, explained.message, ctx.log.path);
}
