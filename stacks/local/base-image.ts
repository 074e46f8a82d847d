import { createHash } from "node:crypto";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { removeTree } from "./fs-util.ts";
import { withLock } from "./lock.ts";
import { LabError, run } from "./run.ts";

/** What a fresh Debian cloud VM has that matters to us: systemd, journald, OpenSSH, sudo. No Node. */
const PACKAGES = ["systemd", "systemd-sysv", "dbus", "openssh-server", "sudo", "iproute2", "procps", "ca-certificates"];
const SUITE = "bookworm";
/** Bump when prepare() changes, so existing caches are rebuilt instead of silently reused. */
const RECIPE_VERSION = 1;
const DEFAULT_MIRROR = "http://deb.debian.org/debian";

export const DEPLOY_USER = "deploy";

/** $XDG_CACHE_HOME/drasyl-deploy/lab: machine-local and disposable, never inside the repository. */
export function labCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base =
    env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.startsWith("/") ? env.XDG_CACHE_HOME : join(homedir(), ".cache");
  return join(base, "drasyl-deploy", "lab");
}

function imageName(): string {
  const recipe = JSON.stringify({ SUITE, PACKAGES, RECIPE_VERSION });
  return `${SUITE}-${createHash("sha256").update(recipe).digest("hex").slice(0, 10)}`;
}

/** The finished base image's path, or undefined when it still has to be built. */
export function cachedBaseImage(cacheDir: string): string | undefined {
  const dir = join(cacheDir, imageName());
  return existsSync(dir) ? dir : undefined;
}

/**
 * The Debian mirror this machine's apt already uses (it is known to be reachable from here),
 * falling back to deb.debian.org when apt is not pointed at a Debian bookworm mirror.
 */
export function debianMirror(): string {
  const files: string[] = [];
  if (existsSync("/etc/apt/sources.list")) files.push("/etc/apt/sources.list");
  const d = "/etc/apt/sources.list.d";
  if (existsSync(d))
    for (const f of readdirSync(d).sort()) if (f.endsWith(".list") || f.endsWith(".sources")) files.push(join(d, f));
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    // One-line format: deb [options] URI suite components...
    for (const m of text.matchAll(/^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/gm)) {
      if (m[2] === SUITE && m[1]) return m[1];
    }
    // deb822 format: stanzas separated by blank lines.
    for (const stanza of text.split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/im.exec(stanza)?.[1];
      const suites = /^Suites:\s*(.+)$/im.exec(stanza)?.[1]?.split(/\s+/) ?? [];
      const types = /^Types:\s*(.+)$/im.exec(stanza)?.[1]?.split(/\s+/) ?? [];
      if (uri && types.includes("deb") && suites.includes(SUITE)) return uri;
    }
  }
  return DEFAULT_MIRROR;
}

/**
 * The shared read-only Debian root that every lab host overlays. Built once per machine (about
 * 70 s) under a lock, into a temp directory that is renamed into place only when complete, so an
 * interrupted build is thrown away instead of being used half-made.
 */
export async function ensureBaseImage(
  cacheDir: string,
  onProgress: (message: string) => void = () => {},
): Promise<string> {
  const final = join(cacheDir, imageName());
  if (existsSync(final) && abandonedBuilds(cacheDir).length === 0) return final;
  mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
  return withLock(join(cacheDir, "build.lock"), "building the lab base image", async () => {
    await removeAbandonedBuilds(cacheDir);
    if (existsSync(final)) return final; // Another process built it while we waited.
    const tmp = join(cacheDir, `.${imageName()}.partial-${process.pid}-${Date.now().toString(36)}`);
    const debs = join(cacheDir, "debs");
    mkdirSync(debs, { recursive: true });
    const mirror = debianMirror();
    onProgress(`building the Debian ${SUITE} base image from ${mirror} (about a minute, once per machine)`);
    try {
      await run(
        "debootstrap",
        ["--variant=minbase", `--include=${PACKAGES.join(",")}`, `--cache-dir=${debs}`, SUITE, tmp, mirror],
        { timeoutMs: 20 * 60_000 },
      );
      await prepare(tmp);
    } catch (e) {
      await removeTree(tmp);
      throw new LabError(
        `could not build the lab base image: ${(e as Error).message}\n(is ${mirror} reachable? the .deb cache is ${debs})`,
      );
    }
    renameSync(tmp, final);
    onProgress(`base image ready at ${final}`);
    return final;
  });
}

function abandonedBuilds(cacheDir: string): string[] {
  return existsSync(cacheDir) ? readdirSync(cacheDir).filter((f) => f.includes(".partial-")) : [];
}

/**
 * Deletes what interrupted builds left (with /proc and /sys possibly still mounted inside). A
 * debootstrap whose parent was SIGKILLed keeps running and releases nothing, so a directory that
 * a live process still names on its command line is left alone; the next build removes it.
 */
async function removeAbandonedBuilds(cacheDir: string): Promise<void> {
  const partials = abandonedBuilds(cacheDir);
  if (partials.length === 0) return;
  const inUse = new Set<string>();
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      for (const arg of readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")) inUse.add(arg);
    } catch {
      // Exited while we looked.
    }
  }
  for (const f of partials) if (!inUse.has(join(cacheDir, f))) await removeTree(join(cacheDir, f));
}

/** Turns the debootstrap result into the image every host shares; per-host files come later. */
async function prepare(root: string): Promise<void> {
  // Hosts must not share host keys: each generates its own at first boot, into its own upper layer.
  for (const f of readdirSync(join(root, "etc/ssh"))) if (f.startsWith("ssh_host_")) rmSync(join(root, "etc/ssh", f));
  const dropIn = join(root, "etc/systemd/system/ssh.service.d");
  mkdirSync(dropIn, { recursive: true });
  writeFileSync(
    join(dropIn, "lab-host-keys.conf"),
    "# Generate this host's SSH host keys on first boot, as cloud images do.\n[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n",
  );
  writeFileSync(
    join(root, "etc/ssh/sshd_config.d/lab.conf"),
    "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n",
  );
  // No DNS exists inside the lab: an empty resolv.conf makes lookups fail at once instead of timing out.
  rmSync(join(root, "etc/resolv.conf"), { force: true });
  writeFileSync(join(root, "etc/resolv.conf"), "");
  writeFileSync(join(root, "etc/machine-id"), "");
  rmSync(join(root, "etc/hostname"), { force: true });
  // Keep the image small: debootstrap leaves the downloaded packages in the target.
  const archives = join(root, "var/cache/apt/archives");
  for (const f of readdirSync(archives)) if (f.endsWith(".deb")) rmSync(join(archives, f));

  // A sudo user like the ones cloud images create, so the installer is exercised without root too.
  // "*" instead of useradd's "!" keeps the password unusable without marking the account locked.
  await run("chroot", [root, "useradd", "--create-home", "--shell", "/bin/bash", "--password", "*", DEPLOY_USER]);
  writeFileSync(join(root, "etc/sudoers.d", DEPLOY_USER), `${DEPLOY_USER} ALL=(ALL) NOPASSWD:ALL\n`, { mode: 0o440 });
  const { uid, gid } = userIds(root, DEPLOY_USER);
  for (const [dir, owner] of [
    [join(root, "root/.ssh"), { uid: 0, gid: 0 }],
    [join(root, "home", DEPLOY_USER, ".ssh"), { uid, gid }],
  ] as const) {
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o700);
    chownSync(dir, owner.uid, owner.gid);
  }
}

/** uid and gid of a user in a root filesystem (not the machine's own /etc/passwd). */
export function userIds(root: string, user: string): { uid: number; gid: number } {
  const line = readFileSync(join(root, "etc/passwd"), "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${user}:`));
  const [, , uid, gid] = line?.split(":") ?? [];
  if (uid === undefined || gid === undefined)
    throw new LabError(`user ${user} is missing from ${root}/etc/passwd; delete the base image to rebuild it`);
  return { uid: Number(uid), gid: Number(gid) };
}
