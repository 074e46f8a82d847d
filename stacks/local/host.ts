import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import type { SshAccess } from "../provider.ts";
import type { LabHostFiles } from "../state/state-dir.ts";
import { DEPLOY_USER, userIds } from "./base-image.ts";
import { cgroupPids, createCgroup, destroyCgroup } from "./cgroup.ts";
import { mountsUnder, removeTree, unmountAll } from "./fs-util.ts";
import { processName, signal } from "../util/process.ts";
import { LabError, run, sleep } from "./run.ts";
import { anyHostKey, sshLogin } from "../install/ssh.ts";

/** Everything needed to run one lab host; derived from the deployment's state, never stored. */
export interface HostSpec {
  /** Machine name and hostname, e.g. "mydeploy-lab-1". */
  name: string;
  /** Names the netns, the bridge-side veth and the cgroup; at most 15 characters (IFNAMSIZ). */
  tag: string;
  /** Shared read-only base image (the overlay's lower layer). */
  base: string;
  /** This host's directory: upper/ and work/ (its own changes, kept across restarts), root/, log. */
  files: LabHostFiles;
  authorizedKey: string;
  /** How the lab reaches the host over SSH to see that it is up. */
  ssh: SshAccess;
}

function nspawnPids(spec: HostSpec): number[] {
  return cgroupPids(spec.tag).filter((pid) => processName(pid) === "systemd-nspawn");
}

/** Whether the host's systemd-nspawn runs (its container may still be booting). */
export function hostRunning(spec: HostSpec): boolean {
  return nspawnPids(spec).length > 0;
}

/** Whether any process of the host is left, e.g. a container init whose nspawn was killed. */
export function hostHasProcesses(spec: HostSpec): boolean {
  return cgroupPids(spec.tag).length > 0;
}

/**
 * Mounts the host's overlay root and writes what makes it this host. Files written here land in
 * the upper layer; machine-id and host keys are kept there across restarts, as on a rebooted VM.
 */
async function prepareRoot(spec: HostSpec): Promise<void> {
  const { upper, work, root } = spec.files;
  for (const d of [upper, work, root]) mkdirSync(d, { recursive: true });
  // The upper directory's mode becomes the container's "/": it must be traversable by every user.
  chmodSync(upper, 0o755);
  for (const p of [spec.base, upper, work]) {
    // overlayfs options are comma and colon separated, with no escaping in mount(8)'s -o.
    if (/[,:\\]/.test(p))
      throw new LabError(
        `lab paths must not contain ',', ':' or '\\' (overlayfs options): ${p}; use another --state-dir`,
      );
  }
  await unmountAll(root);
  try {
    await run("mount", [
      "-t",
      "overlay",
      "overlay",
      "-o",
      `lowerdir=${spec.base},upperdir=${upper},workdir=${work}`,
      root,
    ]);
  } catch (e) {
    throw new LabError(
      `${(e as Error).message}\n(overlayfs needs the state dir on a local filesystem such as ext4, xfs, btrfs or tmpfs, not on NFS or another overlay; try --state-dir)`,
    );
  }

  const machineId = join(root, "etc/machine-id");
  if (readFileSync(machineId, "utf8").trim() === "") writeFileSync(machineId, `${randomUUID().replaceAll("-", "")}\n`);
  writeFileSync(join(root, "etc/hostname"), `${spec.name}\n`);
  // Without its own name in /etc/hosts, sudo stalls resolving the hostname (there is no DNS).
  writeFileSync(
    join(root, "etc/hosts"),
    `127.0.0.1\tlocalhost\n127.0.1.1\t${spec.name}\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n`,
  );
  const deploy = userIds(root, DEPLOY_USER);
  for (const [home, owner] of [
    ["root", { uid: 0, gid: 0 }],
    [join("home", DEPLOY_USER), deploy],
  ] as const) {
    const file = join(root, home, ".ssh", "authorized_keys");
    writeFileSync(file, `${spec.authorizedKey}\n`, { mode: 0o600 });
    chownSync(file, owner.uid, owner.gid);
  }
}

/**
 * Boots the host (network namespace already set up) and waits until an SSH login succeeds.
 * The caller makes sure the host is stopped first.
 */
export async function startHost(spec: HostSpec, timeoutMs = 90_000): Promise<void> {
  await prepareRoot(spec);
  const procs = createCgroup(spec.tag);
  const log = openSync(spec.files.log, "a");
  try {
    writeFileSync(log, `--- ${new Date().toISOString()} starting ${spec.name}\n`);
    // The launcher joins the host's cgroup before exec'ing nspawn (see cgroup.ts); detached makes
    // it a session leader (setsid), so the container outlives this process and its terminal.
    const launcher = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 1; shift; done; shift; exec "$@"';
    const child = spawn(
      "sh",
      [
        "-c",
        launcher,
        "lab-launch",
        ...procs,
        "--",
        "systemd-nspawn",
        "--boot",
        `--directory=${spec.files.root}`,
        `--machine=${spec.name}`,
        // Both required without systemd/dbus on the machine: no registration with machined.
        "--register=no",
        "--keep-unit",
        `--network-namespace-path=/run/netns/${spec.tag}`,
        "--console=passive",
        "--resolv-conf=off",
        "--timezone=off",
        "--link-journal=no",
      ],
      { detached: true, stdio: ["ignore", log, log] },
    );
    child.unref();
  } finally {
    closeSync(log);
  }
  await waitForSsh(spec, timeoutMs);
}

async function waitForSsh(spec: HostSpec, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const started = Date.now();
  let lastError: string;
  for (;;) {
    // nspawn needs a moment to appear in the cgroup; after that, its absence means it exited.
    if (Date.now() - started > 2000 && !hostRunning(spec)) {
      throw new LabError(`lab host ${spec.name} stopped while booting; systemd-nspawn said:\n${logTail(spec)}`);
    }
    try {
      await sshLogin(spec, anyHostKey, 5000);
      return;
    } catch (e) {
      lastError = (e as Error).message;
    }
    if (Date.now() > deadline) {
      throw new LabError(
        `lab host ${spec.name} did not accept SSH at ${spec.ssh.host} within ${timeoutMs / 1000} s (${lastError}); its console log ${spec.files.log} ends with:\n${logTail(spec)}`,
      );
    }
    await sleep(150);
  }
}

function logTail(spec: HostSpec, lines = 25): string {
  try {
    return readFileSync(spec.files.log, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/**
 * Stops the host like a shutdown: SIGTERM makes nspawn halt the container cleanly. Whatever is
 * left after that (or after nspawn was SIGKILLed earlier) is killed through the host's cgroup.
 * Then the overlay is unmounted. Safe to call on a host that is half-created or already gone.
 */
export async function stopHost(spec: HostSpec, graceMs = 15_000): Promise<void> {
  const supervisors = nspawnPids(spec);
  for (const pid of supervisors) signal(pid, "SIGTERM");
  // Without nspawn there is nobody to halt the container cleanly: go straight to killing it.
  const deadline = Date.now() + (supervisors.length > 0 ? graceMs : 0);
  while (hostHasProcesses(spec) && Date.now() < deadline) await sleep(50);
  await destroyCgroup(spec.tag);
  await unmountAll(spec.files.root);
  const left = mountsUnder(spec.files.root);
  if (left.length > 0) throw new LabError(`could not unmount ${left.join(", ")}`);
  // nspawn's mount propagation directory; it removes it itself only when it exits normally.
  rmSync(`/run/systemd/nspawn/propagate/${spec.name}`, { recursive: true, force: true });
}

/** Removes the host's SSH host keys so the next boot generates new ones (a "reinstalled" server). */
export function wipeHostKeys(spec: HostSpec): void {
  const dir = join(spec.files.upper, "etc", "ssh");
  if (!existsSync(dir)) return;
  for (const f of readdirSync(dir)) if (f.startsWith("ssh_host_")) rmSync(join(dir, f));
}

/** Deletes the host's directory (upper layer, log); the host must be stopped. */
export async function removeHostFiles(spec: HostSpec): Promise<void> {
  await removeTree(spec.files.dir);
}
