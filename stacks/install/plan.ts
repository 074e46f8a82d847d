import { createHash } from "node:crypto";
import type { Identity } from "../../sp-runtime/identity/identity.ts";
import { formatIdentityFile } from "../../sp-runtime/identity/identity-file.ts";
import type { ServerArch } from "../provider.ts";
import type { Facts, PathFact } from "./facts.ts";
import {
  BUNDLE_NAME,
  CURRENT_LINK,
  ENV_FILE,
  ETC_DIR,
  IDENTITY_FILE,
  identityBackupFile,
  KEEP_RELEASES,
  NODE_LINK_NAME,
  OPT_DIR,
  RELEASE_ID_PATTERN,
  releaseDir,
  RELEASES_DIR,
  runtimeBinary,
  runtimeDirName,
  RUNTIMES_DIR,
  SERVICE,
  SERVICE_USER,
  UNIT_FILE,
} from "./layout.ts";
import { Secret } from "./secret.ts";
import type { Settings } from "./settings.ts";
import { octal, shellCommand } from "./shell.ts";
import { renderServiceFiles } from "./templates.ts";

export type Owner = "root" | typeof SERVICE_USER;

/** One step of an install, as data: the planner decides, the executor only carries out. */
export type Action =
  | { kind: "user"; name: string }
  | { kind: "dir"; path: string; mode: number; owner: Owner }
  | {
      kind: "file";
      path: string;
      sha256: string;
      mode: number;
      owner: Owner;
      /** Small files travel in the plan; `source` names a local file streamed at execution. */
      content?: string | Secret;
      source?: string;
      why: string;
    }
  | { kind: "symlink"; path: string; target: string }
  | { kind: "command"; argv: string[]; why: string }
  | { kind: "daemon-reload" }
  | { kind: "restart" }
  | { kind: "enable-start" };

/** What runs: the bundle and the Node runtime it runs on, each pinned by hash. */
export interface Release {
  /** Names the release directory; derived from both hashes, so equal content means equal id. */
  id: string;
  bundle: { path: string; sha256: string };
  runtime: { version: string; arch: ServerArch; path: string; sha256: string };
}

/**
 * When the server holds a different identity: "refuse" (the default) stops; "adopt" keeps the
 * server's (the caller copies it into the local state); "replace" installs ours after backing the
 * old one up on the server.
 */
export type IdentityPolicy = "refuse" | "adopt" | "replace";

export interface DesiredState {
  release: Release;
  identity: Identity;
  settings: Settings;
  identityPolicy?: IdentityPolicy;
}

export interface Plan {
  server?: string;
  release: string;
  /** The release active before this plan, when it is a different one: what a rollback returns to. */
  previousRelease?: string;
  /** Nothing of drasyl-sp was installed. */
  fresh: boolean;
  /** The public key the super peer answers with once the plan ran. */
  publicKey: string;
  /** Whether the plan (re)starts the service, i.e. whether a health check has something new to check. */
  restarts: boolean;
  actions: Action[];
}

export class PlanError extends Error {
  override readonly name = "PlanError";
}

/** A different identity on the server: never overwritten silently, see the message for the ways on. */
export class IdentityConflictError extends PlanError {
  readonly serverPublicKey: string | undefined;
  readonly localPublicKey: string;

  constructor(server: string, serverPublicKey: string | undefined, localPublicKey: string) {
    const held = serverPublicKey
      ? `public key ${serverPublicKey}`
      : "an identity file drasyl-deploy cannot read (no well-formed SecretKey line)";
    const adopt = serverPublicKey
      ? `  - keep the server's identity:   drasyl-deploy up --adopt-identity ${server}   (copies it into the local state; clients keep working)\n`
      : "";
    super(
      `server "${server}" already holds a different drasyl identity, ${held}; the local state has public key ${localPublicKey}.\n` +
        "drasyl-deploy never overwrites an identity silently: every client that knows this super peer trusts its key. Choose one:\n" +
        adopt +
        `  - replace it with the local one: drasyl-deploy up --replace-identity ${server}   (the old file is kept on the server as ${IDENTITY_FILE}.replaced-<timestamp>, 0600)`,
    );
    this.serverPublicKey = serverPublicKey;
    this.localPublicKey = localPublicKey;
  }
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

const ROOT: Owner = "root";

/** Accumulates actions, comparing each wanted path with the facts so that only differences are planned. */
class Planner {
  readonly actions: Action[] = [];
  restart = false;
  reload = false;

  constructor(private readonly facts: Facts) {}

  private fact(path: string): PathFact | undefined {
    return this.facts.paths[path];
  }

  dir(path: string, mode: number, owner: Owner): void {
    const f = this.fact(path);
    if (f?.type === "dir" && f.mode === mode && f.owner === owner && f.group === owner) return;
    this.actions.push({ kind: "dir", path, mode, owner });
  }

  /** Returns whether the content is (re)written. */
  file(want: Omit<Extract<Action, { kind: "file" }>, "kind">): boolean {
    const f = this.fact(want.path);
    if (f?.type !== "file" || f.sha256 !== want.sha256) {
      this.actions.push({ kind: "file", ...want });
      return true;
    }
    // Right content, wrong permissions: fixing them needs no upload and no restart.
    if (f.owner !== want.owner || f.group !== want.owner) {
      this.actions.push({
        kind: "command",
        argv: ["chown", `${want.owner}:${want.owner}`, "--", want.path],
        why: `owner of ${want.path} was ${f.owner}:${f.group}`,
      });
    }
    if (f.mode !== want.mode) {
      this.actions.push({
        kind: "command",
        argv: ["chmod", octal(want.mode), "--", want.path],
        why: `mode of ${want.path} was ${octal(f.mode ?? 0)}`,
      });
    }
    return false;
  }

  /** Returns whether the link is (re)pointed. */
  symlink(path: string, target: string): boolean {
    const f = this.fact(path);
    if (f?.type === "link" && f.target === target) return false;
    this.actions.push({ kind: "symlink", path, target });
    return true;
  }
}

function releasesToKeep(facts: Facts, id: string): Set<string> {
  const keep = new Set([id]);
  if (facts.current) keep.add(facts.current);
  for (const r of facts.releases) {
    // facts.releases is newest first.
    if (keep.size >= KEEP_RELEASES) break;
    keep.add(r.id);
  }
  return keep;
}

function prune(p: Planner, facts: Facts, release: Release): void {
  const keep = releasesToKeep(facts, release.id);
  for (const r of facts.releases) {
    if (!keep.has(r.id))
      p.actions.push({
        kind: "command",
        argv: ["rm", "-rf", "--", releaseDir(r.id)],
        why: `prune release ${r.id} (keeping the last ${KEEP_RELEASES})`,
      });
  }
  // A runtime goes once no kept release links to it.
  const used = new Set([runtimeDirName(release.runtime.version, release.runtime.arch)]);
  for (const r of facts.releases) {
    const m = r.runtime?.startsWith(`${RUNTIMES_DIR}/`)
      ? r.runtime.slice(RUNTIMES_DIR.length + 1).split("/")[0]
      : undefined;
    if (keep.has(r.id) && m) used.add(m);
  }
  for (const [path, f] of Object.entries(facts.paths)) {
    const name = path.startsWith(`${RUNTIMES_DIR}/`) ? path.slice(RUNTIMES_DIR.length + 1) : "";
    if (f.type === "dir" && RELEASE_ID_PATTERN.test(name) && !used.has(name)) {
      p.actions.push({
        kind: "command",
        argv: ["rm", "-rf", "--", path],
        why: `prune runtime ${name} (no kept release uses it)`,
      });
    }
  }
}

/**
 * Compares the facts with the desired state and returns the actions that close the gap, in an
 * order that keeps the running super peer intact until the final switch and restart. Pure: the
 * same facts and desired state give the same plan, and a server already in the desired state gives
 * an empty one.
 */
export function planInstall(facts: Facts, desired: DesiredState, opts: { server?: string; now?: Date } = {}): Plan {
  const { release, identity, settings } = desired;
  const server = opts.server ?? "the server";
  if (!RELEASE_ID_PATTERN.test(release.id))
    throw new PlanError(`release id "${release.id}" is not a safe directory name`);
  if (release.runtime.arch !== facts.arch) {
    throw new PlanError(
      `${server} is ${facts.machine} (${facts.arch}) but the release carries a Node runtime for ${release.runtime.arch}`,
    );
  }
  if (!facts.systemd)
    throw new PlanError(
      `${server} does not run systemd (no /run/systemd/system); drasyl-deploy installs a systemd service`,
    );

  const localKey = identity.publicKeyHex;
  let publicKey = localKey;
  let ownIdentity = true;
  let backup: Action | undefined;
  if (facts.identity.present && facts.identity.publicKey !== localKey) {
    const policy = desired.identityPolicy ?? "refuse";
    if (policy === "refuse" || (policy === "adopt" && !facts.identity.publicKey)) {
      throw new IdentityConflictError(server, facts.identity.publicKey, localKey);
    }
    if (policy === "adopt") {
      ownIdentity = false;
      publicKey = facts.identity.publicKey as string;
    } else {
      const to = identityBackupFile(opts.now ?? new Date());
      backup = {
        kind: "command",
        argv: ["install", "-m", "0600", "-o", "root", "-g", "root", "--", IDENTITY_FILE, to],
        why: `back up the replaced identity (${facts.identity.publicKey ?? "unreadable"})`,
      };
    }
  }

  const p = new Planner(facts);
  if (!facts.userExists) p.actions.push({ kind: "user", name: SERVICE_USER });

  // The runtime and the release are new files next to the running ones: nothing changes for the
  // running daemon until `current` is switched.
  const runtimePath = runtimeBinary(release.runtime.version, release.runtime.arch);
  const runtimeDir = `${RUNTIMES_DIR}/${runtimeDirName(release.runtime.version, release.runtime.arch)}`;
  p.dir(OPT_DIR, 0o755, ROOT);
  p.dir(RUNTIMES_DIR, 0o755, ROOT);
  p.dir(runtimeDir, 0o755, ROOT);
  p.dir(`${runtimeDir}/bin`, 0o755, ROOT);
  const rel = releaseDir(release.id);
  let touchesRelease = p.file({
    path: runtimePath,
    sha256: release.runtime.sha256,
    mode: 0o755,
    owner: ROOT,
    source: release.runtime.path,
    why: `Node ${release.runtime.version} (${release.runtime.arch})`,
  });
  p.dir(RELEASES_DIR, 0o755, ROOT);
  p.dir(rel, 0o755, ROOT);
  touchesRelease =
    p.file({
      path: `${rel}/${BUNDLE_NAME}`,
      sha256: release.bundle.sha256,
      mode: 0o644,
      owner: ROOT,
      source: release.bundle.path,
      why: "super peer bundle",
    }) || touchesRelease;
  touchesRelease = p.symlink(`${rel}/${NODE_LINK_NAME}`, runtimePath) || touchesRelease;

  p.dir(ETC_DIR, 0o700, SERVICE_USER);
  if (backup) p.actions.push(backup);
  let configChanged = false;
  if (ownIdentity) {
    const content = formatIdentityFile(identity);
    configChanged = p.file({
      path: IDENTITY_FILE,
      sha256: sha256Hex(content),
      mode: 0o600,
      owner: SERVICE_USER,
      content: new Secret(content),
      why: `identity ${localKey}`,
    });
  }
  const files = renderServiceFiles(settings);
  const envChanged = p.file({
    path: ENV_FILE,
    sha256: sha256Hex(files.env),
    mode: 0o600,
    owner: SERVICE_USER,
    content: settings.prometheusToken ? new Secret(files.env) : files.env,
    why: "deployment settings",
  });
  const unitChanged = p.file({
    path: UNIT_FILE,
    sha256: sha256Hex(files.unit),
    mode: 0o644,
    owner: ROOT,
    content: files.unit,
    why: "systemd unit",
  });

  const switched = p.symlink(CURRENT_LINK, rel);
  // Without a switch, `current` already is this release, so rewritten release files are live ones.
  const restart = switched || touchesRelease || configChanged || envChanged || unitChanged || facts.active !== "active";
  if (envChanged || unitChanged) p.actions.push({ kind: "daemon-reload" });
  if (facts.enabled !== "enabled") p.actions.push({ kind: "enable-start" });
  else if (restart) p.actions.push({ kind: "restart" });
  prune(p, facts, release);

  return {
    ...(opts.server ? { server: opts.server } : {}),
    release: release.id,
    ...(facts.current && facts.current !== release.id ? { previousRelease: facts.current } : {}),
    fresh: facts.current === undefined && facts.paths[UNIT_FILE] === undefined,
    publicKey,
    restarts: p.actions.some((a) => a.kind === "restart" || a.kind === "enable-start"),
    actions: p.actions,
  };
}

/** The actions of a rollback: point `current` back and restart. */
export function switchBackActions(releaseId: string): Action[] {
  return [{ kind: "symlink", path: CURRENT_LINK, target: releaseDir(releaseId) }, { kind: "restart" }];
}

function short(sha: string): string {
  return `${sha.slice(0, 12)}…`;
}

/** One line per action, safe to print: secret contents appear as "<secret, sha256 …>". */
export function describeAction(a: Action): string {
  switch (a.kind) {
    case "user":
      return `create system user ${a.name} (no home, no login shell)`;
    case "dir":
      return `directory ${a.path} ${octal(a.mode)} ${a.owner}`;
    case "file": {
      const what =
        a.content instanceof Secret
          ? `<secret, sha256 ${short(a.sha256)}>`
          : a.source
            ? `from ${a.source}, sha256 ${short(a.sha256)}`
            : `${a.content?.length ?? 0} bytes, sha256 ${short(a.sha256)}`;
      return `file ${a.path} ${octal(a.mode)} ${a.owner}: ${a.why} (${what})`;
    }
    case "symlink":
      return `symlink ${a.path} -> ${a.target}`;
    case "command":
      return `run ${shellCommand(a.argv)}: ${a.why}`;
    case "daemon-reload":
      return "systemctl daemon-reload";
    case "restart":
      return `systemctl restart ${SERVICE}`;
    case "enable-start":
      return `systemctl enable ${SERVICE} and (re)start it`;
  }
}

/** For `up --dry-run`. */
export function formatPlan(plan: Plan): string {
  const who = plan.server ?? "server";
  const head = `${who}: release ${plan.release}${plan.previousRelease ? ` (replacing ${plan.previousRelease})` : ""}, identity ${plan.publicKey}`;
  if (plan.actions.length === 0) return `${head}\n  nothing to do: already in the desired state`;
  return [head, ...plan.actions.map((a, i) => `  ${String(i + 1).padStart(2)}. ${describeAction(a)}`)].join("\n");
}
