import { existsSync, readFileSync } from "node:fs";

/**
 * Whether a process really runs. `kill -0` alone is not enough: a PID 1 that is not systemd reaps
 * orphaned nspawn children late, so dead processes linger as zombies that `kill -0` reports alive.
 * When /proc cannot be read (hidepid, another mount namespace), the answer of kill(0) stands: a
 * lock is then rather kept than taken over from a live holder.
 */
export function processAlive(pid: number): boolean {
  let signalled = true;
  try {
    process.kill(pid, 0);
  } catch (e) {
    // EPERM: it exists, but belongs to someone else.
    if ((e as NodeJS.ErrnoException).code !== "EPERM") return false;
    signalled = false;
  }
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch (e) {
    // Missing from a mounted /proc after kill(0) reached it: it exited in between.
    return !(signalled && (e as NodeJS.ErrnoException).code === "ENOENT" && existsSync("/proc/self"));
  }
  const state = /^State:\s+(\S)/m.exec(status)?.[1];
  return state !== "Z" && state !== "X";
}

export function processName(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return undefined;
  }
}

/** Sends a signal, ignoring processes that are already gone. */
export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Exited in the meantime: nothing to signal.
  }
}
