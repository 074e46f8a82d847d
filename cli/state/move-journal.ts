import { readFileSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { syncDir, writeFileAtomic } from "./atomic-file.ts";
import { deploymentDir } from "./dirs.ts";

/** An unfinished `move`: what a re-run needs to finish it, and what tells `up` one is under way. */
export interface MoveJournal {
  server: string;
  from: string;
  to: string;
  newServer: string;
  publicKey: string;
  startedAt: string;
}

function journalFile(stateDir: string, deployment: string): string {
  return join(deploymentDir(stateDir, deployment), "move.json");
}

export function readMoveJournal(stateDir: string, deployment: string): MoveJournal | undefined {
  try {
    return JSON.parse(readFileSync(journalFile(stateDir, deployment), "utf8")) as MoveJournal;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

export function writeMoveJournal(stateDir: string, deployment: string, j: MoveJournal): void {
  writeFileAtomic(journalFile(stateDir, deployment), `${JSON.stringify(j, null, 2)}\n`);
}

export function clearMoveJournal(stateDir: string, deployment: string): void {
  const file = journalFile(stateDir, deployment);
  try {
    unlinkSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  syncDir(deploymentDir(stateDir, deployment));
}
