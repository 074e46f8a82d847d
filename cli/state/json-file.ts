import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";

/** Reads a JSON record; a missing file is `undefined`, a damaged one an error that names the file. */
export function readJson<T>(file: string): T | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, "utf8")) as T;
  } catch (e) {
    throw new Error(`${file} is damaged (${(e as Error).message}): move it away and run again`, { cause: e });
  }
}

/** Written to a temp file and renamed, 0600: a crash never leaves half a record. */
export function writeJson(file: string, value: unknown): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}
