import { hostname } from "node:os";
import { deploymentLockHolder } from "../state/lock.ts";
import type { DeploymentState } from "../state/state-dir.ts";
import { processAlive } from "../util/process.ts";

/** One lock file the engine named when it refused to run: who took it, where, when. */
export interface PulumiLock {
  url: string;
  user: string;
  host: string;
  pid: number;
  createdAt: string;
}

/**
 * The locks listed in the engine's "the stack is currently locked by N lock(s)" error, one line each:
 * `  file:///…/.pulumi/locks/…/<uuid>.json: created by user@host (pid 4242) at 2026-01-01T00:00:00Z`
 * (the file backend appends its URL's query, e.g. `<uuid>.json?no_tmp_dir=true:`).
 */
export function parseLockError(text: string): PulumiLock[] {
  const locks: PulumiLock[] = [];
  for (const m of text.matchAll(/^\s*(\S+\.json)(?:\?\S*)?: created by ([^@\s]*)@(\S+) \(pid (\d+)\) at (\S+)\s*$/gm)) {
    // The Automation API's error repeats the CLI's stderr: each lock is listed more than once.
    if (locks.some((l) => l.url === m[1])) continue;
    locks.push({
      url: m[1] as string,
      user: m[2] as string,
      host: m[3] as string,
      pid: Number(m[4]),
      createdAt: m[5] as string,
    });
  }
  return locks;
}

export interface StaleVerdict {
  stale: boolean;
  /** Why the locks may or may not be cleared, for the operator. */
  reason: string;
}

export interface StaleCheck {
  state: DeploymentState;
  /** Default: this machine's host name and process. */
  hostname?: string;
  selfPid?: number;
  alive?: (pid: number) => boolean;
}

/**
 * Whether the engine's locks were left by a run that died: every lock was taken on this machine by
 * a process that is gone, and no other drasyl-deploy run holds the deployment's own lock (which
 * every drasyl-deploy run takes before it touches the stack). Anything else is a live update, or
 * one we cannot see (another machine, the Pulumi Cloud backend), and is left alone.
 */
export function staleLockVerdict(locks: PulumiLock[], check: StaleCheck): StaleVerdict {
  const self = check.selfPid ?? process.pid;
  const alive = check.alive ?? processAlive;
  const host = check.hostname ?? hostname();
  const holder = deploymentLockHolder(check.state);
  if (holder !== undefined && holder !== self && alive(holder)) {
    return {
      stale: false,
      reason: `another drasyl-deploy run (pid ${holder}) is working on deployment "${check.state.deployment}"; wait for it to finish`,
    };
  }
  if (locks.length === 0) {
    return {
      stale: false,
      reason:
        "the backend did not say who holds the lock (Pulumi Cloud or another backend): wait for the other update, or cancel it there",
    };
  }
  for (const l of locks) {
    if (l.host !== host)
      return {
        stale: false,
        reason: `the lock was taken on another machine (${l.user}@${l.host}, pid ${l.pid}, ${l.createdAt}); if no update runs there, remove it with \`pulumi cancel\` on that machine`,
      };
    if (alive(l.pid))
      return {
        stale: false,
        reason: `process ${l.pid} on this machine still holds the lock (taken ${l.createdAt}); wait for it to finish`,
      };
  }
  const which = locks.map((l) => `pid ${l.pid}, ${l.createdAt}`).join("; ");
  return {
    stale: true,
    reason: `the lock was left by a run that is gone (${which}) and no other drasyl-deploy run holds deployment "${check.state.deployment}"`,
  };
}
