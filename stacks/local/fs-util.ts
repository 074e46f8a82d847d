import { readFileSync, rmSync } from "node:fs";
import { LabError, tryRun } from "./run.ts";

/** Mount points at or below `dir`, deepest first (the order to unmount them in). */
export function mountsUnder(dir: string): string[] {
  const prefix = dir.endsWith("/") ? dir : `${dir}/`;
  return (
    readFileSync("/proc/mounts", "utf8")
      .split("\n")
      .map((line) => line.split(" ")[1])
      .filter((m): m is string => m !== undefined)
      // /proc/mounts escapes spaces and other odd bytes as octal (\040).
      .map((m) => m.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))))
      .filter((m) => m === dir || m.startsWith(prefix))
      .sort((a, b) => b.length - a.length)
  );
}

/** Unmounts everything at or below dir; a busy mount is detached lazily so cleanup never hangs. */
export async function unmountAll(dir: string): Promise<void> {
  for (const m of mountsUnder(dir)) {
    if (!(await tryRun("umount", [m]))) await tryRun("umount", ["--lazy", m]);
  }
}

/**
 * Deletes a directory tree that may still have mounts in it (an overlay root, a debootstrap target
 * with /proc and /sys mounted when it was interrupted). Deleting through a mount would delete the
 * mounted files themselves, so this refuses if anything is still mounted after unmounting.
 */
export async function removeTree(dir: string): Promise<void> {
  await unmountAll(dir);
  const left = mountsUnder(dir);
  if (left.length > 0)
    throw new LabError(`refusing to delete ${dir}: still mounted at ${left.join(", ")}; unmount them and retry`);
  rmSync(dir, { recursive: true, force: true });
}
