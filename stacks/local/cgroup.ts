import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import { processAlive, signal } from "../util/process.ts";
import { LabError, sleep } from "./run.ts";

/**
 * Each lab host runs in its own cgroup. nspawn with --keep-unit creates payload/ and supervisor/
 * below the cgroup it was started in, so two containers started from the same cgroup collide; a
 * cgroup per host also lists exactly the processes to kill when nspawn itself was killed and left
 * the container's init running.
 */
function hierarchies(): string[] {
  if (existsSync("/sys/fs/cgroup/cgroup.controllers")) return ["/sys/fs/cgroup"];
  // Hybrid or legacy layout: systemd tracks containers in its named v1 hierarchy (and in the
  // unified one when mounted), so the host's cgroup must exist in both.
  const roots = ["/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"].filter((r) => existsSync(join(r, "cgroup.procs")));
  if (roots.length === 0)
    throw new LabError(
      "no usable cgroup hierarchy under /sys/fs/cgroup (need cgroup2, or a name=systemd v1 hierarchy)",
    );
  return roots;
}

/** The cgroup.procs files a process writes its PID to in order to join the host's cgroup. */
export function createCgroup(name: string): string[] {
  return hierarchies().map((root) => {
    const dir = join(root, name);
    mkdirSync(dir, { recursive: true });
    return join(dir, "cgroup.procs");
  });
}

/** The cgroup and its descendants. The container's systemd removes cgroups while we walk, so a vanished one is simply skipped. */
function subtree(dir: string): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
  const dirs = [dir];
  for (const e of entries) if (e.isDirectory()) dirs.push(...subtree(join(dir, e.name)));
  return dirs;
}

/** Live processes anywhere in the host's cgroup tree. */
export function cgroupPids(name: string): number[] {
  const pids = new Set<number>();
  for (const root of safeHierarchies()) {
    for (const dir of subtree(join(root, name))) {
      for (const l of readProcs(join(dir, "cgroup.procs")).split("\n")) if (l) pids.add(Number(l));
    }
  }
  return [...pids].filter(processAlive);
}

/** SIGKILLs everything in the host's cgroup, waits until it is gone, then removes the cgroup. */
export async function destroyCgroup(name: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pids = cgroupPids(name);
    if (pids.length === 0) break;
    if (Date.now() > deadline)
      throw new LabError(`processes ${pids.join(", ")} of lab host cgroup ${name} survive SIGKILL`);
    for (const pid of pids) signal(pid, "SIGKILL");
    await sleep(50);
  }
  for (const root of safeHierarchies()) {
    // Children first: the container's own systemd created a tree below payload/.
    for (const dir of subtree(join(root, name)).reverse()) {
      for (let i = 0; ; i++) {
        try {
          rmdirSync(dir);
          break;
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === "ENOENT") break;
          // EBUSY while the kernel finishes tearing down the last exited tasks.
          if (code !== "EBUSY" || i > 100) throw new LabError(`cannot remove cgroup ${dir}: ${(e as Error).message}`);
          await sleep(20);
        }
      }
    }
  }
}

function safeHierarchies(): string[] {
  try {
    return hierarchies();
  } catch {
    return [];
  }
}

function readProcs(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return ""; // Removed while we walked the tree.
  }
}
