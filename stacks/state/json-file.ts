import { existsSync, readFileSync } from "node:fs";
import { writeFileAtomic } from "../../sp-runtime/util/atomic-write.ts";
import type { StateDir } from "./state-dir.ts";

/** Reads a JSON record; a missing file is `undefined`, a damaged one an error that names the file. */
export function readJson<T>(file: string): T | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, "utf8")) as T;
  } catch (e) {
    throw new Error(`${file} is damaged (${(e as Error).message}): move it away and run again`, { cause: e });
  }
}

/** 0600, written atomically: a crash never leaves half a record. */
export function writeJson(state: StateDir, file: string, value: unknown): void {
  writeFileAtomic(state.prepare(file), `${JSON.stringify(value, null, 2)}\n`);
}
