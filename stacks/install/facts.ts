import type { ServerArch } from "../provider.ts";
import {
  CURRENT_LINK,
  ENV_FILE,
  ETC_DIR,
  IDENTITY_FILE,
  OPT_DIR,
  RELEASE_ID_PATTERN,
  RELEASES_DIR,
  RUNTIMES_DIR,
  SERVICE,
  SERVICE_USER,
  UNIT_FILE,
} from "./layout.ts";
import { shq } from "./shell.ts";
import type { SshConnection } from "./ssh.ts";

export interface PathFact {
  type: "file" | "dir" | "link";
  /** Permission bits (file, dir). */
  mode?: number;
  owner?: string;
  group?: string;
  /** Seconds since the epoch (file, dir). */
  mtime?: number;
  sha256?: string;
  /** readlink(1) output (link). */
  target?: string;
}

export interface ReleaseFact {
  id: string;
  mtime: number;
  /** Where the release's `node` link points. */
  runtime?: string;
}

/** What the planner needs to know about a server, all from one round trip. */
export interface Facts {
  /** `uname -m` verbatim. */
  machine: string;
  arch: ServerArch;
  systemd: boolean;
  userExists: boolean;
  /** Every managed path that exists, by absolute path. */
  paths: Record<string, PathFact>;
  releases: ReleaseFact[];
  /** The release `current` points to, if it points into the releases directory. */
  current?: string;
  /**
   * The identity file: absent, or present with the public half of its SecretKey (undefined when the
   * file does not hold a well-formed key). The secret half never leaves the server.
   */
  identity: { present: false } | { present: true; publicKey?: string };
  /** `systemctl is-active` / `is-enabled` output, e.g. "active", "inactive", "failed", "enabled", "not-found". */
  active: string;
  enabled: string;
}

export class FactsError extends Error {
  override readonly name = "FactsError";
}

/**
 * Read-only, POSIX sh, coreutils only (a minimal Debian has nothing more). Tab-separated lines;
 * "end" last, so a cut-off output is detected instead of read as "nothing installed".
 * The sed prints only the last 64 hex digits of SecretKey: the Ed25519 public key.
 */
export const FACTS_SCRIPT = `set -u
entry() {
  if [ -L "$1" ]; then printf 'link\\t%s\\t%s\\n' "$1" "$(readlink -- "$1")"
  elif [ -d "$1" ]; then printf 'dir\\t%s\\t%s\\n' "$1" "$(stat --printf '%a\\t%U\\t%G\\t%Y' -- "$1")"
  elif [ -f "$1" ]; then printf 'file\\t%s\\t%s\\t%s\\n' "$1" "$(stat --printf '%a\\t%U\\t%G\\t%Y' -- "$1")" "$(sha256sum < "$1" | cut -c1-64)"
  fi
}
printf 'machine\\t%s\\n' "$(uname -m)"
if [ -d /run/systemd/system ]; then echo 'systemd\tyes'; else echo 'systemd\tno'; fi
if id -u ${shq(SERVICE_USER)} >/dev/null 2>&1; then echo 'user\tyes'; else echo 'user\tno'; fi
for p in ${[OPT_DIR, RELEASES_DIR, RUNTIMES_DIR, CURRENT_LINK, ETC_DIR, IDENTITY_FILE, ENV_FILE, UNIT_FILE].map(shq).join(" ")}; do entry "$p"; done
for d in ${shq(RELEASES_DIR)}/*; do
  [ -d "$d" ] || continue
  entry "$d"
  for f in "$d"/*; do if [ -e "$f" ] || [ -L "$f" ]; then entry "$f"; fi; done
done
for d in ${shq(RUNTIMES_DIR)}/*; do
  [ -d "$d" ] || continue
  entry "$d"; entry "$d/bin"; entry "$d/bin/node"
done
if [ -f ${shq(IDENTITY_FILE)} ]; then
  printf 'pubkey\\t%s\\n' "$(sed -n 's/^[[:space:]]*SecretKey[[:space:]]*=[[:space:]]*[0-9a-fA-F]\\{64\\}\\([0-9a-fA-F]\\{64\\}\\)[[:space:]]*$/\\1/p' ${shq(IDENTITY_FILE)} | head -n 1 | tr 'A-F' 'a-f')"
fi
printf 'active\\t%s\\n' "$(systemctl is-active ${shq(SERVICE)} 2>/dev/null)"
printf 'enabled\\t%s\\n' "$(systemctl is-enabled ${shq(SERVICE)} 2>/dev/null)"
echo end
`;

const ARCHES: Record<string, ServerArch> = { x86_64: "x64", amd64: "x64", aarch64: "arm64", arm64: "arm64" };

export function archOf(machine: string): ServerArch {
  const arch = ARCHES[machine];
  if (!arch) {
    throw new FactsError(
      `unsupported CPU architecture "${machine}": drasyl-deploy ships Node runtimes for x86_64 and aarch64 only`,
    );
  }
  return arch;
}

function num(text: string | undefined, line: string): number {
  const n = Number(text);
  if (text === undefined || text === "" || !Number.isFinite(n))
    throw new FactsError(`unexpected facts line: ${JSON.stringify(line)}`);
  return n;
}

export function parseFacts(output: string): Facts {
  const paths: Record<string, PathFact> = {};
  let machine: string | undefined;
  let systemd = false;
  let userExists = false;
  let publicKey: string | undefined;
  let identityLine = false;
  let active = "";
  let enabled = "";
  let complete = false;

  for (const line of output.split("\n")) {
    if (line === "") continue;
    const f = line.split("\t");
    switch (f[0]) {
      case "machine":
        machine = f[1];
        break;
      case "systemd":
        systemd = f[1] === "yes";
        break;
      case "user":
        userExists = f[1] === "yes";
        break;
      case "link":
        paths[f[1] ?? ""] = { type: "link", target: f[2] ?? "" };
        break;
      case "dir":
      case "file":
        paths[f[1] ?? ""] = {
          type: f[0],
          mode: parseInt(f[2] ?? "", 8),
          owner: f[3],
          group: f[4],
          mtime: num(f[5], line),
          ...(f[0] === "file" ? { sha256: f[6] } : {}),
        };
        break;
      case "pubkey":
        identityLine = true;
        publicKey = /^[0-9a-f]{64}$/.test(f[1] ?? "") ? f[1] : undefined;
        break;
      case "active":
        active = f[1] ?? "";
        break;
      case "enabled":
        enabled = f[1] ?? "";
        break;
      case "end":
        complete = true;
        break;
      default:
        throw new FactsError(`unexpected facts line: ${JSON.stringify(line)}`);
    }
  }
  if (!complete || machine === undefined) throw new FactsError("the facts script's output was cut off (no end marker)");

  const releases: ReleaseFact[] = [];
  for (const [path, fact] of Object.entries(paths)) {
    const id = path.startsWith(`${RELEASES_DIR}/`) ? path.slice(RELEASES_DIR.length + 1) : "";
    // Odd names someone else put there are neither used nor pruned.
    if (fact.type !== "dir" || !RELEASE_ID_PATTERN.test(id)) continue;
    const runtime = paths[`${path}/node`];
    releases.push({ id, mtime: fact.mtime ?? 0, ...(runtime?.type === "link" ? { runtime: runtime.target } : {}) });
  }
  releases.sort((a, b) => b.mtime - a.mtime || a.id.localeCompare(b.id));

  const currentTarget = paths[CURRENT_LINK]?.target;
  const current = currentTarget?.startsWith(`${RELEASES_DIR}/`)
    ? currentTarget.slice(RELEASES_DIR.length + 1).replace(/\/$/, "")
    : undefined;

  return {
    machine,
    arch: archOf(machine),
    systemd,
    userExists,
    paths,
    releases,
    ...(current !== undefined && releases.some((r) => r.id === current) ? { current } : {}),
    identity: identityLine ? { present: true, ...(publicKey ? { publicKey } : {}) } : { present: false },
    active,
    enabled,
  };
}

/** Runs the facts script as root (via sudo -n for other users) and parses what it printed. */
export async function gatherFacts(conn: SshConnection): Promise<Facts> {
  const out = await conn.check(FACTS_SCRIPT, "reading the server's facts");
  try {
    return parseFacts(out);
  } catch (e) {
    throw new FactsError(`${conn.server.name}: ${(e as Error).message}`);
  }
}
