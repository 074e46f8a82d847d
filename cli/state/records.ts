import { join } from "node:path";
import { deploymentDir, privateDir } from "./dirs.ts";

/**
 * The files the fleet commands (rollout, up's region changes, peers --diff, logs) keep in the
 * state dir, in one place so that they move together.
 */
export const records = {
  /** JSON lines, one per command run: who, when, what, and per server the release before and after. */
  auditLog: (stateDir: string, deployment: string): string => join(deploymentDir(stateDir, deployment), "audit.log"),
  /** The last rollout: its options, order and how far it got (for --resume). */
  rollout: (stateDir: string, deployment: string): string => join(deploymentDir(stateDir, deployment), "rollout.json"),
  /** The DRASYL_SUPER_PEERS entries of the last up that changed them, and the ones before (for peers --diff). */
  peers: (stateDir: string, deployment: string): string => join(deploymentDir(stateDir, deployment), "peers.json"),
  /** Servers removed from the config, whose identities are kept but no longer deployed. */
  retired: (stateDir: string, deployment: string): string => join(deploymentDir(stateDir, deployment), "retired.json"),
  /** The release the last completed rollout put on every server: what `up` installs from then on. */
  fleetRelease: (stateDir: string, deployment: string): string => join(deploymentDir(stateDir, deployment), "release.json"),
  /** Copies of rolled-out bundles, so a release cannot change under a rollout or after it. */
  bundles: (stateDir: string, deployment: string): string => privateDir(join(deploymentDir(stateDir, deployment), "bundles")),
  /** The relay check's second test node (the first is the probe's identity), mined once per state dir. */
  relayNode: (stateDir: string, which: "b"): string => join(privateDir(stateDir), `relay-${which}.identity`),
};
