import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Server } from "../../stacks/provider.ts";
import { ensureBaseImage, labCacheDir } from "../../stacks/local/base-image.ts";
import { removeTree, unmountAll } from "../../stacks/local/fs-util.ts";
import { type HostSpec, removeHostFiles, startHost, stopHost } from "../../stacks/local/host.ts";
import { withLock } from "../../stacks/local/lock.ts";
import {
  createHostNetwork,
  ensureBridge,
  hostAddresses,
  hostTag,
  removeBridgeIfUnused,
  removeHostNetwork,
} from "../../stacks/local/network.ts";
import { claimHost, liveClaims, releaseHost, withMachineLock } from "../../stacks/local/registry.ts";
import { run } from "../../stacks/local/run.ts";
import { ensureLabKey } from "../../stacks/local/ssh-key.ts";
import { writeState } from "../../stacks/local/state.ts";
import { type DeploymentState, StateDir } from "../../stacks/state/state-dir.ts";

/*
 * A lab host variant that boots like a Debian cloud image: cloud-init installed, fed by the
 * NoCloud datasource from /var/lib/cloud/seed/nocloud/{meta-data,user-data}. It runs the user data
 * our Pulumi programs generate for real. Built from the lab's base image (stacks/local, whose API
 * is reused as it is: ensureBaseImage, startHost/stopHost, the machine registry and network).
 */

/** Bump when the recipe below changes, so a cached variant is rebuilt. */
const VARIANT_VERSION = 3;

/** Lab-only cloud-init settings: the seed directory is the only datasource, and the lab wires eth0 itself. */
const LAB_CLOUD_CFG = `# drasyl-deploy lab: cloud-init reads the NoCloud seed only; the lab configures eth0 from outside.
datasource_list: [ NoCloud ]
network: { config: disabled }
`;

/** The variant's directory next to the base image it was made from; built once per machine (about a minute). */
export async function ensureCloudInitImage(
  cacheDir = labCacheDir(),
  onProgress: (message: string) => void = () => {},
): Promise<string> {
  const base = await ensureBaseImage(cacheDir, onProgress);
  const final = `${base}-cloud-init-v${VARIANT_VERSION}`;
  if (existsSync(final)) return final;
  return withLock(join(cacheDir, "cloud-init-variant.lock"), "building the lab's cloud-init image", async () => {
    if (existsSync(final)) return final;
    // Not ".partial-": the base image's builder deletes directories named like that.
    const tmp = `${final}.building-${process.pid}`;
    await removeTree(tmp);
    onProgress(`building the cloud-init lab image from ${base} (once per machine)`);
    await run("cp", ["-a", "--reflink=auto", base, tmp], { timeoutMs: 10 * 60_000 });
    const proc = join(tmp, "proc");
    try {
      // apt inside the copy, with this machine's DNS and a /proc; no service may start in a chroot.
      writeFileSync(join(tmp, "etc/resolv.conf"), readFileSync("/etc/resolv.conf"));
      writeFileSync(join(tmp, "usr/sbin/policy-rc.d"), "#!/bin/sh\nexit 101\n", { mode: 0o755 });
      await run("mount", ["-t", "proc", "proc", proc]);
      const apt = (args: string[]): Promise<string> =>
        run(
          "chroot",
          [tmp, "env", "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C", "apt-get", "-o", "Acquire::Retries=3", ...args],
          { timeoutMs: 15 * 60_000 },
        );
      await apt(["update", "-qq"]);
      // locales: Debian's cloud images have it, and cloud-init's locale module fails without update-locale.
      await apt(["install", "-y", "-qq", "--no-install-recommends", "cloud-init", "locales"]);
      await apt(["clean"]);
      // Debian's cloud images ship en_US.UTF-8 generated; cloud-init sets it as the default locale.
      const localeGen = join(tmp, "etc/locale.gen");
      writeFileSync(localeGen, readFileSync(localeGen, "utf8").replace(/^# (en_US\.UTF-8 UTF-8)$/m, "$1"));
      await run("chroot", [tmp, "locale-gen"], { timeoutMs: 5 * 60_000 });
    } finally {
      await unmountAll(proc);
      rmSync(join(tmp, "usr/sbin/policy-rc.d"), { force: true });
      writeFileSync(join(tmp, "etc/resolv.conf"), "");
    }
    rmSync(join(tmp, "var/lib/apt/lists"), { recursive: true, force: true });
    mkdirSync(join(tmp, "var/lib/apt/lists/partial"), { recursive: true });
    writeFileSync(join(tmp, "etc/cloud/cloud.cfg.d/99-drasyl-lab.cfg"), LAB_CLOUD_CFG);
    // A fresh image: no instance cloud-init has seen yet.
    rmSync(join(tmp, "var/lib/cloud"), { recursive: true, force: true });
    renameSync(tmp, final);
    onProgress(`cloud-init lab image ready at ${final}`);
    return final;
  });
}

export interface CloudInitHostOptions {
  /** Where the host's files and state go (a test's temp dir). */
  stateDir: string;
  /** Host name, a DNS label. */
  name: string;
  /** The cloud-init user data to boot with, e.g. renderUserData(...). */
  userData: string;
  /** Public keys the "cloud" hands over in its metadata, as Hetzner and EC2 do (public-keys). */
  metadataKeys?: string[];
  cacheDir?: string;
}

/**
 * One lab host booted from the cloud-init image with a NoCloud seed. The lab's own key still gets
 * root (the lab checks readiness as root); everything else about users comes from the user data.
 */
export class CloudInitLabHost {
  private spec?: HostSpec;
  private readonly id: string;
  private readonly state: DeploymentState;
  private readonly stateFile: string;

  constructor(private readonly opts: CloudInitHostOptions) {
    this.id = createHash("sha256").update(`cloud-init\0${opts.stateDir}\0${opts.name}`).digest("hex").slice(0, 8);
    this.state = new StateDir(opts.stateDir).forDeployment(opts.name);
    this.stateFile = this.state.labStateFile(opts.name);
  }

  /** Boots the host and returns it as a Server logged into as root with the lab key. */
  async boot(onProgress: (message: string) => void = () => {}): Promise<Server> {
    const image = await ensureCloudInitImage(this.opts.cacheDir, onProgress);
    this.state.prepare(this.stateFile);
    const key = ensureLabKey(this.state);
    const index = await withMachineLock(async () => {
      const i = claimHost(liveClaims(), this.id, this.opts.name, this.stateFile, undefined);
      writeState(this.stateFile, {
        version: 1,
        deployment: this.opts.name,
        hosts: [{ name: this.opts.name, region: "cloud-init", id: this.id, index: i }],
      });
      return i;
    });
    const { ipv4, ipv6 } = hostAddresses(index);
    const spec: HostSpec = {
      name: this.opts.name,
      tag: hostTag(this.id),
      base: image,
      files: this.state.labHost(this.opts.name, this.opts.name),
      authorizedKey: key.publicKey,
      ssh: { host: ipv4, port: 22, user: "root", privateKeyPath: key.privateKeyPath },
    };
    this.spec = spec;
    // The seed goes into the host's own overlay layer before the first boot, as a cloud's metadata service would serve it.
    const seed = join(spec.files.upper, "var", "lib", "cloud", "seed", "nocloud");
    mkdirSync(seed, { recursive: true, mode: 0o755 });
    const keys = this.opts.metadataKeys ?? [];
    writeFileSync(
      join(seed, "meta-data"),
      `instance-id: ${this.opts.name}-${this.id}\nlocal-hostname: ${this.opts.name}\n${keys.length > 0 ? `public-keys:\n${keys.map((k) => `  - ${JSON.stringify(k)}\n`).join("")}` : ""}`,
    );
    writeFileSync(join(seed, "user-data"), this.opts.userData);
    await stopHost(spec);
    await withMachineLock(async () => {
      await ensureBridge();
      await createHostNetwork(spec.tag, index);
    });
    onProgress(`booting ${spec.name} at ${ipv4} with cloud-init`);
    await startHost(spec);
    return { name: spec.name, region: "cloud-init", ipv4, ipv6, ssh: spec.ssh };
  }

  /** Stops the host and removes everything it had; safe to call more than once. */
  async destroy(): Promise<void> {
    const spec: HostSpec = this.spec ?? {
      name: this.opts.name,
      tag: hostTag(this.id),
      base: "",
      files: this.state.labHost(this.opts.name, this.opts.name),
      authorizedKey: "",
      ssh: { host: "", port: 22, user: "root" },
    };
    await stopHost(spec);
    await withMachineLock(() => removeHostNetwork(spec.tag));
    await removeHostFiles(spec);
    await withMachineLock(async () => {
      releaseHost(this.id);
      rmSync(this.stateFile, { force: true });
      if (liveClaims().size === 0) await removeBridgeIfUnused();
    });
  }
}
