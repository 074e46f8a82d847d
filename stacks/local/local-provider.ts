import { createHash } from "node:crypto";
import { existsSync, rmdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Provider, Server } from "../provider.ts";
import type { DeploymentState } from "../state/state-dir.ts";
import { cachedBaseImage, ensureBaseImage, labCacheDir } from "./base-image.ts";
import { withLock } from "./lock.ts";
import {
  type HostSpec,
  hostHasProcesses,
  hostRunning,
  removeHostFiles,
  startHost,
  stopHost,
  wipeHostKeys,
} from "./host.ts";
import {
  createHostNetwork,
  ensureBridge,
  hostAddresses,
  hostTag,
  netnsExists,
  removeBridgeIfUnused,
  removeHostNetwork,
} from "./network.ts";
import { claimHost, liveClaims, releaseHost, withMachineLock } from "./registry.ts";
import { labHostFacts, labReadiness } from "./requirements.ts";
import { LabError } from "./run.ts";
import { forgetHostKey } from "../install/host-keys.ts";
import { anyHostKey, type ExecResult, sshLogin, sshRunOnce } from "../install/ssh.ts";
import { ensureLabKey } from "./ssh-key.ts";
import { type HostRecord, type LabState, readState, writeState } from "./state.ts";

export interface LocalProviderOptions {
  /** The deployment's state; lab hosts are named `<deployment>-<region>`. */
  state: DeploymentState;
  /** Region names, e.g. ["lab-1", "lab-2"]: one host each. */
  regions: string[];
  /** Where the base image is cached; default $XDG_CACHE_HOME/drasyl-deploy/lab. */
  cacheDir?: string;
  /** The user the returned servers log in as: root, or "deploy" (passwordless sudo). */
  sshUser?: "root" | "deploy";
}

type Progress = (server: string, message: string) => void;

/** A DNS label: lowercase letters, digits and dashes. */
function label(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "");
}

/** Whether this machine can run the local lab, and if not, what to do about it. */
export function labAvailable(): { ok: boolean; reason?: string } {
  const r = labReadiness(labHostFacts());
  if (r.ready) return { ok: true };
  if (r.install)
    return { ok: false, reason: `${r.install.join(", ")} not installed: apt-get install ${r.install.join(" ")}` };
  return { ok: false, reason: r.reason };
}

/**
 * The built-in sandbox: every region is a Debian bookworm server on this machine, a
 * systemd-nspawn container with systemd as PID 1, journald and OpenSSH, in its own network
 * namespace on a private bridge. Like a fresh cloud VM it has no Node.js and no internet.
 */
export class LocalProvider implements Provider {
  readonly kind = "local";
  readonly createsServers = true;
  private readonly deployment: string;
  private readonly regions: string[];
  private readonly paths: DeploymentState;
  private readonly deploymentDir: string;
  private readonly stateFile: string;
  private readonly cacheDir: string;
  private readonly sshUser: "root" | "deploy";

  constructor(opts: LocalProviderOptions) {
    this.deployment = label(opts.state.deployment);
    if (!this.deployment)
      throw new LabError(`deployment name "${opts.state.deployment}" needs at least one letter or digit`);
    this.regions = opts.regions.map((r) => {
      const l = label(r);
      if (!l) throw new LabError(`region name "${r}" needs at least one letter or digit`);
      return l;
    });
    if (new Set(this.regions).size !== this.regions.length)
      throw new LabError(`region names must be distinct: ${opts.regions.join(", ")}`);
    this.paths = opts.state;
    this.deploymentDir = opts.state.labDeploymentDir(this.deployment);
    this.stateFile = opts.state.labStateFile(this.deployment);
    this.cacheDir = opts.cacheDir ?? labCacheDir();
    this.sshUser = opts.sshUser ?? "root";
  }

  private record(region: string): Omit<HostRecord, "index"> {
    const id = createHash("sha256").update(`${this.deployment}\0${region}`).digest("hex").slice(0, 8);
    let name = `${this.deployment}-${region}`;
    // Host names are DNS labels (at most 63 characters); keep long ones unique with the id.
    if (name.length > 63) name = `${name.slice(0, 54).replace(/-+$/, "")}-${id}`;
    return { name, region, id };
  }

  private spec(h: HostRecord, base: string, authorizedKey: string, privateKeyPath: string): HostSpec {
    return {
      name: h.name,
      tag: hostTag(h.id),
      base,
      files: this.paths.labHost(this.deployment, h.name),
      authorizedKey,
      // The lab checks readiness as root, whatever user the returned servers use.
      ssh: { host: hostAddresses(h.index).ipv4, port: 22, user: "root", privateKeyPath },
    };
  }

  /** Specs for inspection and teardown, which need neither the base image nor the key. */
  private teardownSpec(h: HostRecord): HostSpec {
    return this.spec(h, "", "", "");
  }

  private server(h: HostRecord, privateKeyPath: string): Server {
    const { ipv4, ipv6 } = hostAddresses(h.index);
    return {
      name: h.name,
      region: h.region,
      ipv4,
      ipv6,
      ssh: { host: ipv4, port: 22, user: this.sshUser, privateKeyPath },
      arch: undefined,
    };
  }

  private state(): LabState {
    return readState(this.stateFile) ?? { version: 1, deployment: this.deployment, hosts: [] };
  }

  async preview(): Promise<string[]> {
    const lines: string[] = [];
    if (!cachedBaseImage(this.cacheDir))
      lines.push(`build the Debian bookworm base image in ${this.cacheDir} (about a minute, once per machine)`);
    const recorded = new Map(this.state().hosts.map((h) => [h.region, h]));
    for (const region of this.regions) {
      const h = recorded.get(region);
      if (!h) lines.push(`create lab host ${this.record(region).name} (region ${region})`);
      else if (hostRunning(this.teardownSpec(h)))
        lines.push(`keep running lab host ${h.name} (${hostAddresses(h.index).ipv4})`);
      else lines.push(`start lab host ${h.name} (${hostAddresses(h.index).ipv4})`);
    }
    for (const h of recorded.values())
      if (!this.regions.includes(h.region))
        lines.push(`remove lab host ${h.name} (region ${h.region} is no longer listed)`);
    return lines;
  }

  async apply(onProgress: Progress = () => {}): Promise<Server[]> {
    const available = labAvailable();
    if (!available.ok) throw new LabError(`cannot run the local lab: ${available.reason}`);
    const base = await ensureBaseImage(this.cacheDir, (m) => onProgress("lab", m));
    this.paths.ensureDir(this.deploymentDir);
    return this.exclusively(() => this.converge(base, onProgress));
  }

  /**
   * One apply/destroy per deployment at a time (two terminals, a test and the CLI); the lock file
   * sits beside the deployment's directory because destroy deletes that directory.
   */
  private exclusively<T>(fn: () => Promise<T>): Promise<T> {
    return withLock(
      this.paths.prepare(this.paths.labLockFile(this.deployment)),
      `lab deployment ${this.deployment}`,
      fn,
    );
  }

  private async converge(base: string, onProgress: Progress): Promise<Server[]> {
    const key = ensureLabKey(this.paths);

    // Claim ids and addresses and record every host before creating anything, under the machine
    // lock, so a crash at any later point leaves hosts that destroy (or the next apply) can find.
    const { hosts, removed } = await withMachineLock(async () => {
      const state = this.state();
      const previous = new Map(state.hosts.map((h) => [h.region, h]));
      const claims = liveClaims();
      const wanted: HostRecord[] = this.regions.map((region) => {
        const r = this.record(region);
        const index = claimHost(claims, r.id, r.name, this.stateFile, previous.get(region)?.index);
        return { ...r, index };
      });
      const gone = state.hosts.filter((h) => !this.regions.includes(h.region));
      // Hosts to remove stay recorded until they are gone.
      writeState(this.stateFile, { ...state, hosts: [...wanted, ...gone] });
      return { hosts: wanted, removed: gone };
    });

    for (const h of removed) {
      onProgress(h.name, "removing (region no longer listed)");
      await this.teardown(h);
    }
    if (removed.length > 0) await this.forget(removed);

    const results = await Promise.allSettled(
      hosts.map(async (h) => {
        const spec = this.spec(h, base, key.publicKey, key.privateKeyPath);
        if (hostRunning(spec) && netnsExists(spec.tag)) {
          try {
            await sshLogin(spec, anyHostKey, 10_000);
            onProgress(h.name, `running at ${spec.ssh.host}`);
            return;
          } catch {
            onProgress(h.name, "running but not answering SSH: restarting");
          }
        }
        if (hostHasProcesses(spec)) onProgress(h.name, "cleaning up the previous run");
        await stopHost(spec);
        await withMachineLock(async () => {
          await ensureBridge();
          await createHostNetwork(spec.tag, h.index);
        });
        // A host without SSH host keys yet is a new machine that makes its own on first boot, maybe
        // at the address of one removed earlier (a move, a region removed and added again): a pin
        // left for that address (say, by a run killed before it forgot it) would refuse the new key.
        if (!existsSync(join(spec.files.upper, "etc", "ssh", "ssh_host_ed25519_key"))) {
          if (forgetHostKey(this.paths.knownHostsFile, spec.ssh.host, spec.ssh.port))
            onProgress(h.name, `new server at ${spec.ssh.host}: forgot its old pinned host key`);
        }
        onProgress(h.name, `booting at ${spec.ssh.host}`);
        const t = Date.now();
        await startHost(spec);
        onProgress(h.name, `up in ${((Date.now() - t) / 1000).toFixed(1)} s`);
      }),
    );
    const failed = results.flatMap((r, i) =>
      r.status === "rejected" ? [`${hosts[i]?.name}: ${(r.reason as Error).message}`] : [],
    );
    if (failed.length > 0)
      throw new LabError(`lab hosts failed to start (run destroy to clean up, or apply again):\n${failed.join("\n")}`);
    return hosts.map((h) => this.server(h, key.privateKeyPath));
  }

  async list(): Promise<Server[]> {
    const privateKeyPath = this.paths.labKeyFile;
    return this.state()
      .hosts.filter((h) => hostRunning(this.teardownSpec(h)))
      .map((h) => this.server(h, privateKeyPath));
  }

  destroy(onProgress: Progress = () => {}): Promise<void> {
    return this.exclusively(() => this.teardownAll(onProgress));
  }

  private async teardownAll(onProgress: Progress): Promise<void> {
    const state = readState(this.stateFile);
    if (state) {
      const results = await Promise.allSettled(
        state.hosts.map(async (h) => {
          onProgress(h.name, "stopping and removing");
          await this.teardown(h);
        }),
      );
      const failed = results.flatMap((r, i) =>
        r.status === "rejected" ? [`${state.hosts[i]?.name}: ${(r.reason as Error).message}`] : [],
      );
      if (failed.length > 0)
        throw new LabError(`could not remove all lab hosts (run destroy again):\n${failed.join("\n")}`);
      await this.forget(state.hosts);
    }
    await withMachineLock(async () => {
      if (liveClaims().size === 0 && (await removeBridgeIfUnused())) onProgress("lab", "removed the lab bridge");
    });
  }

  /** Stops a host and removes everything it had, tolerating any half-created state. */
  private async teardown(h: HostRecord): Promise<void> {
    const spec = this.teardownSpec(h);
    await stopHost(spec);
    await withMachineLock(() => removeHostNetwork(spec.tag));
    await removeHostFiles(spec);
  }

  /** Drops removed hosts from the state and the machine registry; deletes an emptied state. */
  private async forget(hosts: HostRecord[]): Promise<void> {
    await withMachineLock(async () => {
      const ids = new Set(hosts.map((h) => h.id));
      const left = this.state().hosts.filter((h) => !ids.has(h.id));
      if (left.length > 0) writeState(this.stateFile, { version: 1, deployment: this.deployment, hosts: left });
      else if (existsSync(this.deploymentDir)) {
        rmSync(this.stateFile, { force: true });
        try {
          rmdirSync(this.deploymentDir);
        } catch {
          // Something else lives there (not ours to delete): leave the directory.
        }
      }
      for (const id of ids) releaseHost(id);
    });
  }

  /** Stops a host, wipes its SSH host keys and boots it again; for tests of a changed host key. */
  regenerateHostKeys(serverName: string): Promise<void> {
    return this.exclusively(() => this.replaceHostKeys(serverName));
  }

  private async replaceHostKeys(serverName: string): Promise<void> {
    const h = this.state().hosts.find((x) => x.name === serverName);
    if (!h) throw new LabError(`no lab host named ${serverName} in deployment ${this.deployment}`);
    const base = cachedBaseImage(this.cacheDir);
    if (!base) throw new LabError("the lab base image is missing; run apply first");
    const key = ensureLabKey(this.paths);
    const spec = this.spec(h, base, key.publicKey, key.privateKeyPath);
    await stopHost(spec);
    wipeHostKeys(spec);
    if (!netnsExists(spec.tag)) {
      await withMachineLock(async () => {
        await ensureBridge();
        await createHostNetwork(spec.tag, h.index);
      });
    }
    await startHost(spec);
  }
}

/** See LocalProvider.regenerateHostKeys. */
export function regenerateHostKeys(provider: LocalProvider, serverName: string): Promise<void> {
  return provider.regenerateHostKeys(serverName);
}

/**
 * Runs a shell command on a lab host over SSH, as the server's SSH user. Host keys are not checked:
 * this is the lab's own plumbing, and callers that care compare labHostKey() themselves.
 */
export function labExec(server: Server, command: string, timeoutMs = 60_000): Promise<ExecResult> {
  return sshRunOnce(server, anyHostKey, command, { connectTimeoutMs: Math.min(timeoutMs, 20_000), timeoutMs });
}

/** The SSH host key the server presents now, as an OpenSSH public key line. */
export function labHostKey(server: Server): Promise<string> {
  return sshLogin(server, anyHostKey, 10_000);
}
