import { copyFileSync, existsSync } from "node:fs";
import { fileSha256 } from "../install/release.ts";
import { superPeerBundle } from "../package-files.ts";
import { readJson, writeJson } from "./json-file.ts";
import type { DeploymentState } from "./state-dir.ts";

export interface FleetRelease {
  /** The copy in the state dir. */
  bundle: string;
  sha256: string;
  /** Where the operator's file was. */
  source: string;
  rolledOutAt: string;
}

/** A copy of the bundle in the state dir, named by its hash: what a rollout installs and `up` keeps. */
export async function keepBundle(state: DeploymentState, source: string): Promise<{ bundle: string; sha256: string }> {
  const sha256 = await fileSha256(source);
  const bundle = state.prepare(state.rolledOutBundleFile(sha256));
  if (!existsSync(bundle)) copyFileSync(source, bundle);
  return { bundle, sha256 };
}

export function recordFleetRelease(state: DeploymentState, release: Omit<FleetRelease, "rolledOutAt">): void {
  writeJson(state, state.fleetReleaseFile, { ...release, rolledOutAt: new Date().toISOString() });
}

/**
 * The bundle `up` installs: the one the last completed rollout put on the fleet, else the one
 * drasyl-deploy ships. Without this, adding a region with `up` would also downgrade every server.
 */
export function fleetBundle(state: DeploymentState): string {
  const r = readJson<FleetRelease>(state.fleetReleaseFile);
  if (r === undefined) return superPeerBundle();
  if (!existsSync(r.bundle)) {
    throw new Error(
      `the release rolled out on ${r.rolledOutAt} (${r.bundle}) is missing from the state dir: restore it, or roll out another one with "drasyl-deploy rollout --release PATH|current"`,
    );
  }
  return r.bundle;
}
