import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { LabError } from "./run.ts";

/**
 * Runs fn while holding an exclusive flock(2) on `path`, across processes (parallel vitest
 * workers, two terminals) and within one process (hosts created in parallel). The lock is held by
 * a `flock` child whose command reads our stdin pipe: when we release it, or when this process
 * dies however it dies, the pipe closes and the kernel drops the lock. No stale lock files, no PID
 * guessing.
 */
export async function withLock<T>(path: string, what: string, fn: () => Promise<T>, timeoutMs = 600_000): Promise<T> {
  closeSync(openSync(path, "a", 0o600));
  const holder = spawn(
    "flock",
    [
      "--exclusive",
      "--wait",
      String(Math.ceil(timeoutMs / 1000)),
      path,
      "sh",
      "-c",
      "echo locked; exec cat >/dev/null",
    ],
    {
      stdio: ["pipe", "pipe", "ignore"],
    },
  );
  const exited = new Promise<number | null>((resolve) => holder.on("close", (code) => resolve(code)));
  const acquired = await new Promise<boolean>((resolve, reject) => {
    holder.on("error", (e) => reject(new LabError(`could not run flock (util-linux) to lock ${path}: ${e.message}`)));
    holder.stdout.on("data", (d: Buffer) => {
      if (d.toString().includes("locked")) resolve(true);
    });
    void exited.then(() => resolve(false));
  });
  if (!acquired)
    throw new LabError(
      `timed out after ${timeoutMs / 1000} s waiting for ${path} (${what}); is another drasyl-deploy still running?`,
    );
  try {
    return await fn();
  } finally {
    holder.stdin.end();
    await exited;
  }
}
