import { readFileSync, unlinkSync } from "node:fs";
import { writeFileAtomic } from "../../sp-runtime/util/atomic-write.ts";
import type { Server } from "../provider.ts";
import type { DeploymentState } from "./state-dir.ts";

/** An unfinished `move`: what a re-run needs to finish it, and what tells `up` one is under way. */
export interface MoveJournal {
  server: string;
  /** Where it was, as `--to` would name it (kind:region, existing:name). */
  from: string;
  /** `--to` as given: a re-run must name the same destination. */
  to: string;
  newServer: string;
  publicKey: string;
  startedAt: string;
  /** The config file's text before the switch: both places as they were, even a target the switch removed. */
  before?: string;
  /** The DNS record name the super peer keeps at its new place (pinned there by the switch). */
  dnsRecord?: string;
  /** Set once the zone's record leads to the new server (only with a DNS zone drasyl-deploy manages). */
  recordSwitched?: boolean;
  /** An existing server it leaves: reached over SSH after the switch to stop its daemon (the config no longer lists it). */
  oldServer?: Server;
}

/**
 * The existing server an unfinished move is taking over, while the config still lists the server it
 * leaves (before the switch). `up` must leave it alone: installing there would neither finish nor undo
 * the move, and a fresh key for it would make the move's re-run refuse.
 */
export function serverTakenByMove(j: MoveJournal | undefined, servers: readonly string[]): string | undefined {
  if (!j || !j.to.startsWith("existing:")) return undefined;
  return servers.includes(j.server) && servers.includes(j.newServer) ? j.newServer : undefined;
}

export function readMoveJournal(state: DeploymentState): MoveJournal | undefined {
  try {
    return JSON.parse(readFileSync(state.moveJournalFile, "utf8")) as MoveJournal;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

export function writeMoveJournal(state: DeploymentState, j: MoveJournal): void {
  writeFileAtomic(state.prepare(state.moveJournalFile), `${JSON.stringify(j, null, 2)}\n`);
}

export function clearMoveJournal(state: DeploymentState): void {
  try {
    unlinkSync(state.moveJournalFile);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
}
