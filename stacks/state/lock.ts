import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { processAlive } from "../util/process.ts";
import type { DeploymentState } from "./state-dir.ts";

export class LockedError extends Error {
  override readonly name = "LockedError";
}

/** The PID of the live drasyl-deploy run that holds the deployment, or undefined when none does. */
export function deploymentLockHolder(state: DeploymentState): number | undefined {
  let text: string;
  try {
    text = readFileSync(state.lockFile, "utf8");
  } catch {
    return undefined;
  }
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 && processAlive(pid) ? pid : undefined;
}

/**
 * One drasyl-deploy run per deployment at a time. A lock left by a run that died (its PID is gone)
 * is taken over, so an interrupted deploy can simply be run again.
 */
export function lockDeployment(state: DeploymentState): () => void {
  const file = state.prepare(state.lockFile);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, "wx", 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        try {
          unlinkSync(file);
        } catch {
          // Already removed: nothing to release.
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const pid = deploymentLockHolder(state);
      if (pid !== undefined) {
        throw new LockedError(
          `deployment "${state.deployment}" is in use by another drasyl-deploy run (pid ${pid}); wait for it to finish`,
        );
      }
      unlinkSync(file);
    }
  }
  throw new LockedError(`could not lock deployment "${state.deployment}" (${file})`);
}
