import { randomBytes } from "node:crypto";
import { createReadStream, statSync } from "node:fs";
import { buffer } from "node:stream/consumers";
import { createGzip } from "node:zlib";
import { SERVICE } from "./layout.ts";
import { type Action, describeAction } from "./plan.ts";
import { Secret } from "./secret.ts";
import { octal, shellCommand, shq } from "./shell.ts";
import type { SshConnection } from "./ssh.ts";

/** Which action failed and why; the actions before it were carried out. */
export class ExecutionError extends Error {
  override readonly name = "ExecutionError";
  readonly index: number;
  constructor(index: number, action: Action, cause: string) {
    super(`step ${index + 1} (${describeAction(action)}) failed: ${cause}`);
    this.index = index;
  }
}

// Files above this travel gzip-compressed: the Node binary shrinks to about 40%.
const COMPRESS_ABOVE = 1 << 20;

// Servers install in parallel from the same runtime: compress it once (1.7 s of CPU), not per server.
const compressed = new Map<string, Promise<Buffer>>();

function gzipOnce(path: string, sha256: string): Promise<Buffer> {
  let gz = compressed.get(sha256);
  if (!gz) {
    // Level 1: most of gzip's size win on a Node binary for a fraction of level 6's CPU time.
    const source = createReadStream(path);
    const gzip = createGzip({ level: 1 });
    source.on("error", (e) => gzip.destroy(e));
    gz = buffer(source.pipe(gzip));
    compressed.set(sha256, gz);
    gz.catch(() => compressed.delete(sha256));
  }
  return gz;
}

/** The shell snippet for every action that is not a file upload. */
function snippet(a: Exclude<Action, { kind: "file" }>): string {
  switch (a.kind) {
    case "user":
      return `id -u ${shq(a.name)} >/dev/null 2>&1 || useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin ${shq(a.name)}`;
    case "dir":
      return `install -d -m ${octal(a.mode)} -o ${shq(a.owner)} -g ${shq(a.owner)} -- ${shq(a.path)}`;
    case "symlink": {
      // A new link renamed over the old one: `current` is never missing, not even for an instant.
      const tmp = `${a.path}.new-${randomBytes(4).toString("hex")}`;
      return `ln -sfn -- ${shq(a.target)} ${shq(tmp)} && mv -fT -- ${shq(tmp)} ${shq(a.path)}`;
    }
    case "command":
      return shellCommand(a.argv);
    case "daemon-reload":
      return "systemctl daemon-reload";
    case "restart":
      // A unit that hit its start limit refuses a plain restart.
      return `systemctl reset-failed ${SERVICE} 2>/dev/null || true; systemctl restart ${SERVICE}`;
    case "enable-start":
      return `systemctl enable --quiet ${SERVICE} && { systemctl reset-failed ${SERVICE} 2>/dev/null || true; systemctl restart ${SERVICE}; }`;
  }
}

async function uploadFile(conn: SshConnection, a: Extract<Action, { kind: "file" }>): Promise<void> {
  const target = { path: a.path, sha256: a.sha256, mode: a.mode, owner: a.owner };
  if (a.source !== undefined) {
    // A large file changed since it was hashed arrives "damaged": the server checks the planned sha256.
    if (statSync(a.source).size > COMPRESS_ABOVE)
      await conn.upload(target, await gzipOnce(a.source, a.sha256), { gzipped: true });
    else await conn.upload(target, createReadStream(a.source));
  } else {
    await conn.upload(target, a.content instanceof Secret ? a.content.reveal() : (a.content ?? ""));
  }
}

/**
 * Carries out the actions in order over one connection. Runs of non-upload actions go to the
 * server as one script (one round trip instead of one per action, which matters on a far server);
 * a marker before each tells which one failed.
 */
export async function executePlan(
  conn: SshConnection,
  actions: readonly Action[],
  onProgress: (msg: string) => void = () => {},
): Promise<void> {
  let i = 0;
  while (i < actions.length) {
    const a = actions[i] as Action;
    if (a.kind === "file") {
      onProgress(describeAction(a));
      try {
        await uploadFile(conn, a);
      } catch (e) {
        throw new ExecutionError(i, a, (e as Error).message);
      }
      i++;
      continue;
    }
    const start = i;
    const parts = ["set -e"];
    while (i < actions.length && (actions[i] as Action).kind !== "file") {
      const b = actions[i] as Exclude<Action, { kind: "file" }>;
      onProgress(describeAction(b));
      parts.push(`echo @@${i}`, snippet(b));
      i++;
    }
    const r = await conn.run(parts.join("\n"));
    if (r.code !== 0) {
      const markers = [...r.stdout.matchAll(/^@@(\d+)$/gm)];
      const failed = Number(markers.at(-1)?.[1] ?? start);
      const cause = `exit ${r.code ?? "by signal"}: ${r.stderr.trim().split("\n").slice(-5).join("\n") || "(no error output)"}`;
      throw new ExecutionError(failed, actions[failed] as Action, cause);
    }
  }
}
