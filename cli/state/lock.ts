import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { deploymentDir } from "./dirs.ts";

export class LockedError extends Error {
  override readonly name = "LockedError";
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
  // A zombie still answers kill(0); its state says it is gone.
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return true;
  }
}

/**
 * One drasyl-deploy run per deployment at a time. A lock left by a run that died (its PID is gone)
 * is taken over, so an interrupted deploy can simply be run again.
 */
export function lockDeployment(stateDir: string, deployment: string): () => void {
  const file = join(deploymentDir(stateDir, deployment), "lock");
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
      const pid = Number(readFileSync(file, "utf8").trim());
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
        throw new LockedError(`deployment "${deployment}" is in use by another drasyl-deploy run (pid ${pid}); wait for it to finish`);
      }
      unlinkSync(file);
    }
  }
  throw new LockedError(`could not lock deployment "${deployment}" (${file})`);
}
