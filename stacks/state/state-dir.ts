import { chmodSync, mkdirSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";

/** Creates the directory (and parents) 0700, and tightens an existing one that is looser. */
export function privateDir(path: string): string {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o700);
  return path;
}

/**
 * drasyl-deploy's local state: $XDG_DATA_HOME/drasyl-deploy unless --state-dir says otherwise.
 * It holds secret keys, so every directory in it is 0700.
 */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const base =
    env.XDG_DATA_HOME && env.XDG_DATA_HOME.startsWith("/") ? env.XDG_DATA_HOME : join(homedir(), ".local", "share");
  return join(base, "drasyl-deploy");
}

/** The files of one lab host (a systemd-nspawn container) under the lab's part of the state. */
export interface LabHostFiles {
  dir: string;
  /** The overlay mount the container boots from. */
  root: string;
  upper: string;
  work: string;
  log: string;
}

/**
 * The one place that knows the layout of the state dir (the README's table lists it). Everything
 * else asks here for a path; `file(...)`-style getters are pure, `ensure...` creates the private
 * directories on the way.
 */
export class StateDir {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  /** Makes the directories down to `file`'s parent (all 0700) and returns `file`. */
  prepare(file: string): string {
    this.ensureDir(dirname(file));
    return file;
  }

  /** Makes `dir` and the directories between it and the state dir's root, all 0700. */
  ensureDir(dir: string): string {
    const chain: string[] = [];
    for (let d = dir; d.startsWith(`${this.root}/`); d = dirname(d)) chain.unshift(d);
    privateDir(this.root);
    for (const d of chain) privateDir(d);
    return dir;
  }

  /** Pinned SSH host keys of every server this state dir has talked to. */
  get knownHostsFile(): string {
    return join(this.root, "known_hosts.json");
  }

  /** The health probe's own node identity, mined once per state dir. */
  get probeIdentityFile(): string {
    return join(this.root, "probe.identity");
  }

  /** The rollout relay check's second test node (the first is the probe's identity), mined once. */
  get relayNodeIdentityFile(): string {
    return join(this.root, "relay-b.identity");
  }

  get sandboxIdentityFile(): string {
    return join(this.root, "sandbox", "drasyl-sp.identity");
  }

  /** Pulumi's file backend (the default backend of every cloud stack). */
  get pulumiBackendDir(): string {
    return join(this.root, "pulumi");
  }

  get pulumiBackendUrl(): string {
    return `file://${this.pulumiBackendDir}`;
  }

  /** The local lab: its operator key and one directory per lab deployment. */
  get labDir(): string {
    return join(this.root, "lab");
  }

  /** The operator key every lab host trusts (shared by all lab deployments of this state dir). */
  get labKeyFile(): string {
    return join(this.labDir, "operator_ed25519");
  }

  forDeployment(name: string): DeploymentState {
    return new DeploymentState(this.root, name);
  }
}

/** A deployment's part of the state dir, plus the shared paths of its state dir. */
export class DeploymentState extends StateDir {
  readonly deployment: string;

  constructor(root: string, deployment: string) {
    super(root);
    this.deployment = deployment;
  }

  /** Everything drasyl-deploy keeps about this deployment but the lab. */
  get dir(): string {
    return join(this.root, "deployments", this.deployment);
  }

  /** One drasyl-deploy run per deployment; holds the PID of the run. */
  get lockFile(): string {
    return join(this.dir, "lock");
  }

  identityFile(server: string): string {
    return join(this.identitiesDir, `${server}.identity`);
  }

  /** JSON lines, one per up, rollout or destroy: who, when, what, per server the release before and after. */
  get auditLogFile(): string {
    return join(this.dir, "audit.log");
  }

  /** The last rollout: its release, options, order, and how far it got (for --resume). */
  get rolloutFile(): string {
    return join(this.dir, "rollout.json");
  }

  /** The release the last completed rollout put on every server: what `up` installs from then on. */
  get fleetReleaseFile(): string {
    return join(this.dir, "release.json");
  }

  /** Copies of rolled-out bundles, named by hash, so a release cannot change under or after a rollout. */
  rolledOutBundleFile(sha256: string): string {
    return join(this.dir, "bundles", `drasyl-sp-${sha256.slice(0, 16)}.mjs`);
  }

  /** DRASYL_SUPER_PEERS of the last up that changed it, and the value before (for peers --diff). */
  get peersHistoryFile(): string {
    return join(this.dir, "peers.json");
  }

  /** Where earlier versions marked retired servers; read once and migrated (retired.ts). */
  get retiredFile(): string {
    return join(this.dir, "retired.json");
  }

  get identitiesDir(): string {
    return join(this.dir, "identities");
  }

  /** Where a replaced identity is kept, next to the one that replaced it. */
  replacedIdentityFile(server: string, at: Date): string {
    return `${this.identityFile(server)}.replaced-${at.toISOString().replace(/[:.]/g, "-")}`;
  }

  /** Where a retired identity is kept: a server removed by `up`, or the old name of a moved one (retired.ts). */
  retiredIdentityFile(server: string, at: Date): string {
    return `${this.identityFile(server)}.retired-${at.toISOString().replace(/[:.]/g, "-")}`;
  }

  /** Which identity backups were written (date, file, keys), so `up` and `identity list` know what is backed up. */
  get backupsFile(): string {
    return join(this.dir, "backups.json");
  }

  /** Identities `identity restore`/`import` put in place, for the next `up` to install over a differing one. */
  get restoredFile(): string {
    return join(this.dir, "restored.json");
  }

  /** An unfinished `move`. */
  get moveJournalFile(): string {
    return join(this.dir, "move.json");
  }

  /** The deployment's SSH key pair that every cloud server of it trusts. */
  get deployKeyFile(): string {
    return join(this.dir, "ssh", "id_ed25519");
  }

  /** Pulumi.yaml and Pulumi.<stack>.yaml (the passphrase's salt) of the cloud's stack. */
  pulumiWorkDir(cloud: string): string {
    return join(this.dir, `pulumi-${cloud}`);
  }

  /** The engine's full output (secrets redacted). */
  pulumiLogFile(cloud: string): string {
    return join(this.dir, `pulumi-${cloud}.log`);
  }

  /** A lab deployment's directory; `label` is the deployment name as a DNS label. */
  labDeploymentDir(label: string): string {
    return join(this.labDir, label);
  }

  /** Beside the lab deployment's directory, because destroy deletes that directory. */
  labLockFile(label: string): string {
    return join(this.labDir, `.${label}.lock`);
  }

  /** The lab hosts of a lab deployment, recorded before any of their resources exist. */
  labStateFile(label: string): string {
    return join(this.labDeploymentDir(label), "state.json");
  }

  labHost(label: string, host: string): LabHostFiles {
    const dir = join(this.labDeploymentDir(label), host);
    return {
      dir,
      root: join(dir, "root"),
      upper: join(dir, "upper"),
      work: join(dir, "work"),
      log: join(dir, "nspawn.log"),
    };
  }
}
