import { accessSync, constants, existsSync } from "node:fs";
import { join } from "node:path";

/** A program the lab runs, and the Debian package that ships it. */
export interface LabTool {
  program: string;
  package: string;
}

export const LAB_TOOLS: readonly LabTool[] = [
  { program: "systemd-nspawn", package: "systemd-container" },
  { program: "debootstrap", package: "debootstrap" },
  { program: "ip", package: "iproute2" },
  { program: "flock", package: "util-linux" },
];

// A non-root PATH often lacks the sbin directories, where debootstrap and ip live.
const SBIN = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

/** Whether `name` is an executable on PATH (or in an sbin directory). */
export function findProgram(name: string, path: string = process.env.PATH ?? ""): boolean {
  const dirs = [...path.split(":").filter(Boolean), ...SBIN];
  return dirs.some((d) => {
    try {
      accessSync(join(d, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** What the machine offers, gathered once so the decision about it is a pure function. */
export interface LabHostFacts {
  platform: NodeJS.Platform;
  root: boolean;
  missing: LabTool[];
  apt: boolean;
  cgroups: boolean;
}

export function labHostFacts(): LabHostFacts {
  return {
    platform: process.platform,
    root: process.getuid?.() === 0,
    missing: LAB_TOOLS.filter((t) => !findProgram(t.program)),
    apt: findProgram("apt-get"),
    cgroups:
      existsSync("/sys/fs/cgroup/cgroup.controllers") ||
      ["/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"].some((r) => existsSync(join(r, "cgroup.procs"))),
  };
}

/**
 * What it takes to run the lab here: nothing, installing Debian packages (root with apt), or it
 * cannot run at all, with the reason in words an operator can act on.
 */
export type LabReadiness =
  { ready: true } | { ready: false; install: string[] } | { ready: false; install?: undefined; reason: string };

export function labReadiness(f: LabHostFacts): LabReadiness {
  if (f.platform !== "linux") return { ready: false, reason: "the local lab needs Linux (systemd-nspawn containers)" };
  if (!f.root)
    return {
      ready: false,
      reason: "the local lab needs root (it creates containers, mounts and network namespaces): run it with sudo",
    };
  if (!f.cgroups)
    return {
      ready: false,
      reason: "no usable cgroup hierarchy under /sys/fs/cgroup (need cgroup2, or a name=systemd v1 hierarchy)",
    };
  if (f.missing.length === 0) return { ready: true };
  const packages = [...new Set(f.missing.map((t) => t.package))];
  if (f.apt) return { ready: false, install: packages };
  const tools = f.missing.map((t) => `${t.program} (Debian package ${t.package})`).join(", ");
  return {
    ready: false,
    reason: `the local lab needs ${tools}, and there is no apt-get to install them: install them with your package manager`,
  };
}
