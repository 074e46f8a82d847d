import { readFileSync, unlinkSync } from "node:fs";
import { writeFileAtomic } from "../../sp-runtime/util/atomic-write.ts";
import type { DeploymentState } from "./state-dir.ts";

/** An unfinished `move`: what a re-run needs to finish it, and what tells `up` one is under way. */
export interface MoveJournal {
  server: string;
  from: string;
  to: string;
  newServer: string;
  publicKey: string;
  startedAt: string;
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
