import { chmodSync, mkdirSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/**
 * drasyl-deploy's local state (identities, pinned host keys, deployments): $XDG_DATA_HOME/drasyl-deploy
 * unless --state-dir says otherwise. Every directory is 0700: it holds secret keys.
 */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_DATA_HOME && env.XDG_DATA_HOME.startsWith("/") ? env.XDG_DATA_HOME : join(homedir(), ".local", "share");
  return join(base, "drasyl-deploy");
}

/** Creates the directory (and parents) 0700, and tightens an existing one that is looser. */
export function privateDir(path: string): string {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o700);
  return path;
}

/** Everything drasyl-deploy keeps about one deployment. */
export function deploymentDir(stateDir: string, deployment: string): string {
  return privateDir(join(privateDir(join(privateDir(stateDir), "deployments")), deployment));
}
